/**
 * Digest authentication of callers outside the trunks, against someone who captured an answer or
 * guesses passwords, on raw UDP: a captured INVITE sent again (as a new request) or pointed at
 * another number is refused, repeated failures block the address for a while, and an honest
 * retransmission of an authenticated INVITE is still just a retransmission.
 */
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SipServer, type InboundInvite } from '../../src/sip/sipServer.js';
import { waitUntil } from '../support/resources.js';
import { branch, header, quietly, request, statusOf, UdpPeer } from '../support/sipPeers.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

function authorization(challenge: string, uri: string, password = 'wonderland-42', nc = 1): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const ha1 = md5(`alice:legway:${password}`);
  const ncText = nc.toString(16).padStart(8, '0');
  const response = md5(`${ha1}:${nonce}:${ncText}:0a4f113b:auth:${md5(`INVITE:${uri}`)}`);
  return `Digest username="alice", realm="legway", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=${ncText}`;
}

describe('digest authentication against replays and guessing', () => {
  let server: SipServer | undefined;
  const peers: UdpPeer[] = [];
  const invites: InboundInvite[] = [];

  afterEach(async () => {
    for (const peer of peers.splice(0)) await peer.close();
    invites.splice(0);
    await server?.close();
    server = undefined;
  });

  async function start(): Promise<SipServer> {
    server = await SipServer.start({
      host: '127.0.0.1',
      port: 0,
      trunks: ['10.0.0.0/8'],
      callers: { realm: 'legway', users: new Map([['alice', 'wonderland-42']]) },
      logger: pino({ level: 'silent' }),
      transport: { retransmitTiming: { t1: 100, t2: 400 } },
      onInvite: (invite) => {
        invites.push(invite);
        invite.request.progress({ statusCode: 180 });
      },
    });
    return server;
  }

  async function peer(address = '127.0.0.1'): Promise<UdpPeer> {
    const p = await UdpPeer.open(address);
    peers.push(p);
    return p;
  }

  /** An INVITE from `from` to `uri`, with a fresh branch and Call-ID unless given. */
  function invite(from: UdpPeer, uri: string, headers: Record<string, string> = {}): string {
    return request('INVITE', { via: `SIP/2.0/UDP ${from.address}:${from.port};branch=${branch()};rport`, requestUri: uri, headers });
  }

  /** Sends a request and waits for its final response (by Call-ID). */
  async function finalFor(from: UdpPeer, s: SipServer, text: string): Promise<string> {
    const callId = header(text, 'Call-ID')!;
    const seen = from.received.length;
    const answer = (): string | undefined => from.received.slice(seen).find((m) => header(m, 'Call-ID') === callId && statusOf(m) >= 180);
    await from.send(s.port, text);
    await waitUntil(() => answer() !== undefined, { what: `an answer to ${callId}` });
    return answer()!;
  }

  it('refuses a captured INVITE sent again, and its credentials for another number', async () => {
    const s = await start();
    const caller = await peer();
    const uri = `sip:room@127.0.0.1:${s.port}`;
    const challenge = header(await finalFor(caller, s, invite(caller, uri)), 'WWW-Authenticate')!;
    const credentials = authorization(challenge, uri);
    const good = invite(caller, uri, { Authorization: credentials });
    expect(statusOf(await finalFor(caller, s, good))).toBe(180);
    expect(invites).toHaveLength(1);

    // The same request again as a new transaction (new branch): a replay.
    const replay = good.replace(/branch=[^;\r]+/, `branch=${branch()}`).replace(/Call-ID: [^\r]+/, 'Call-ID: replayed@test');
    expect(statusOf(await finalFor(caller, s, replay))).toBe(403);
    // Fresh counts, but made for the room and presented for another number.
    const elsewhere = invite(caller, `sip:premium@127.0.0.1:${s.port}`, { Authorization: authorization(challenge, uri, 'wonderland-42', 2) });
    expect(statusOf(await finalFor(caller, s, elsewhere))).toBe(403);
    // The right next count for the right number still works.
    expect(statusOf(await finalFor(caller, s, invite(caller, uri, { Authorization: authorization(challenge, uri, 'wonderland-42', 3) })))).toBe(180);
    expect(invites).toHaveLength(2);
  });

  it('absorbs an honest retransmission of an authenticated INVITE (same transaction, not a replay)', async () => {
    const s = await start();
    const caller = await peer();
    const uri = `sip:room@127.0.0.1:${s.port}`;
    const challenge = header(await finalFor(caller, s, invite(caller, uri)), 'WWW-Authenticate')!;
    const good = invite(caller, uri, { Authorization: authorization(challenge, uri) });
    await finalFor(caller, s, good);
    await caller.send(s.port, good);
    await waitUntil(() => caller.received.filter((m) => statusOf(m) === 180).length === 2, { what: 'the 180 again' });
    await quietly(100);
    expect(caller.received.map(statusOf)).not.toContain(403);
    expect(invites).toHaveLength(1);
  });

  it('after 5 failures in a minute refuses the address unchecked, even with the right password; another host still gets in', async () => {
    const s = await start();
    const guesser = await peer();
    const uri = `sip:room@127.0.0.1:${s.port}`;
    for (let i = 0; i < 5; i++) {
      const challenge = header(await finalFor(guesser, s, invite(guesser, uri)), 'WWW-Authenticate')!;
      expect(statusOf(await finalFor(guesser, s, invite(guesser, uri, { Authorization: authorization(challenge, uri, `guess-${i}`) })))).toBe(403);
    }
    // Blocked: no challenge, and the right password gets 403 too.
    expect(statusOf(await finalFor(guesser, s, invite(guesser, uri)))).toBe(403);
    const other = await peer('127.0.0.2');
    const challenge = header(await finalFor(other, s, invite(other, uri)), 'WWW-Authenticate')!;
    expect(statusOf(await finalFor(guesser, s, invite(guesser, uri, { Authorization: authorization(challenge, uri) })))).toBe(403);
    expect(invites).toHaveLength(0);
    expect(statusOf(await finalFor(other, s, invite(other, uri, { Authorization: authorization(challenge, uri, 'wonderland-42', 2) })))).toBe(180);
    expect(invites).toHaveLength(1);
  });
});
