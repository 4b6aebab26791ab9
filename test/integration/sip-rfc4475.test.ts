/**
 * RFC 4475 (SIP torture test messages), §3.1 parser tests, against the SIP server on real sockets.
 * The messages are in test/sip/rfc4475, one file per message named as the RFC names it, byte for
 * byte as the RFC publishes them. Each is sent over UDP and over TCP to one server per transport:
 * a valid request gets a sensible final response (never 400), an invalid one 400 (505 for an
 * unknown SIP version, as §3.1.2.16 asks) or nothing, responses are dropped quietly, and the
 * server answers an OPTIONS afterwards.
 *
 * Over UDP the one change to a message is `;rport` on its top Via, as a client behind NAT sends:
 * the answer then comes back to the test's socket rather than to port 5060 of the Via's host.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SipServer, type InboundInvite } from '../../src/sip/sipServer.js';
import { waitUntil } from '../support/resources.js';
import { header, quietly, request, statusOf, TcpPeer, UdpPeer } from '../support/sipPeers.js';

type Outcome = number | 'silent';

interface Vector {
  readonly name: string;
  readonly section: string;
  readonly valid: boolean;
  readonly udp: Outcome;
  readonly tcp: Outcome;
  /** Octets after the message that a datagram drops but a stream reads as more (broken) messages. */
  readonly trailer?: boolean;
}

const v = (name: string, section: string, valid: boolean, udp: Outcome, tcp: Outcome = udp, trailer = false): Vector => ({
  name,
  section,
  valid,
  udp,
  tcp,
  trailer,
});

const VECTORS: readonly Vector[] = [
  // §3.1.1 Valid messages. INVITEs reach the owner, which (as the gateway for an unrouted number) answers 404.
  v('wsinv', '3.1.1.1 A Short Tortuous INVITE (a To tag, no such dialog)', true, 481),
  v('intmeth', '3.1.1.2 Wide Range of Valid Characters (an unknown method)', true, 501),
  v('esc01', '3.1.1.3 Valid Use of the % Escaping Mechanism', true, 404),
  v('escnull', '3.1.1.4 Escaped Nulls in URIs (REGISTER)', true, 405),
  v('esc02', '3.1.1.5 Use of % When It Is Not an Escape (an unknown method)', true, 501),
  v('lwsdisp', '3.1.1.6 Message with No LWS between Display Name and <', true, 200),
  v('longreq', '3.1.1.7 Long Values in Header Fields (RFC 2543 top Via)', true, 404),
  v('dblreq', '3.1.1.8 Extra Trailing Octets in a UDP Datagram (REGISTER)', true, 405, 405, true),
  v('semiuri', '3.1.1.9 Semicolon-Separated Parameters in URI User Part', true, 200),
  v('transports', '3.1.1.10 Varied and Unknown Transport Types', true, 200),
  v('mpart01', '3.1.1.11 Multipart MIME Message (MESSAGE)', true, 405),
  v('unreason', '3.1.1.12 Unusual Reason Phrase (a response)', true, 'silent'),
  v('noreason', '3.1.1.13 Empty Reason Phrase (a response)', true, 'silent'),
  // §3.1.2 Invalid messages.
  v('badinv01', '3.1.2.1 Extraneous Header Field Separators (no Via to answer by over UDP)', false, 'silent', 400),
  v('clerr', '3.1.2.2 Content Length Larger Than Message (a stream waits for the rest)', false, 400, 'silent'),
  v('ncl', '3.1.2.3 Negative Content-Length', false, 400),
  v('scalar02', '3.1.2.4 Request Scalar Fields with Overlarge Values', false, 400),
  v('scalarlg', '3.1.2.5 Response Scalar Fields with Overlarge Values', false, 'silent'),
  v('quotbal', '3.1.2.6 Unterminated Quoted String in Display Name', false, 400),
  v('ltgtruri', '3.1.2.7 <> Enclosing Request-URI', false, 400),
  v('lwsruri', '3.1.2.8 Malformed SIP Request-URI (embedded LWS)', false, 400),
  v('lwsstart', '3.1.2.9 Multiple SP Separating Request-Line Elements', false, 400),
  v('trws', '3.1.2.10 SP Characters at End of Request-Line', false, 400),
  v('escruri', '3.1.2.11 Escaped Headers in SIP Request-URI', false, 400),
  v('baddate', '3.1.2.12 Invalid Time Zone in Date Header Field', false, 400),
  v('regbadct', '3.1.2.13 Failure to Enclose name-addr URI in <>', false, 400),
  v('badaspec', '3.1.2.14 Spaces within addr-spec', false, 400),
  v('baddn', '3.1.2.15 Non-token Characters in Display Name', false, 400),
  v('badvers', '3.1.2.16 Unknown Protocol Version (505; its Via, SIP/7.0, addresses nothing over UDP)', false, 'silent', 505),
  v('mismatch01', '3.1.2.17 Start Line and CSeq Method Mismatch', false, 400),
  v('mismatch02', '3.1.2.18 Unknown Method with CSeq Method Mismatch', false, 400),
  v('bigcode', '3.1.2.19 Overlarge Response Code', false, 'silent'),
];

function vector(name: string): Buffer {
  return readFileSync(new URL(`../sip/rfc4475/${name}.dat`, import.meta.url));
}

/** The Call-ID of a message's first head (full or compact name; a folded value is not used by any vector). */
function callIdOf(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  return /\r\n(?:call-id|i)[ \t]*:[ \t]*(\S+)/i.exec(text.slice(0, text.indexOf('\r\n\r\n')))?.[1] ?? '';
}

/** `;rport` at the end of the first Via header field (which may be folded over several lines). */
function withRport(bytes: Buffer): Buffer {
  const text = bytes.toString('latin1');
  const match = /\r\n(?:via|v)[ \t]*:(?:[^\r]|\r\n[ \t])*/i.exec(text);
  if (!match) return bytes;
  const at = match.index + match[0].length;
  return Buffer.from(`${text.slice(0, at)};rport${text.slice(at)}`, 'latin1');
}

/** The final status of the responses to a Call-ID in received message texts (0: none yet). */
function finalStatus(messages: readonly string[], callId: string): number {
  const finals = messages.filter((m) => m.includes(`\r\nCall-ID: ${callId}\r\n`) && statusOf(m) >= 200);
  return statusOf(finals[0]);
}

/** How long a message that should get nothing is given to prove it. */
const SILENCE_MS = 300;

describe('RFC 4475 §3.1 torture messages', () => {
  it('has every §3.1 message of the RFC as a file', () => {
    expect(VECTORS).toHaveLength(32);
    for (const { name } of VECTORS) expect(vector(name).length, name).toBeGreaterThan(100);
  });

  for (const transport of ['UDP', 'TCP'] as const) {
    describe(`over ${transport}`, () => {
      let server: SipServer;
      beforeAll(async () => {
        server = await SipServer.start({
          host: '127.0.0.1',
          port: 0,
          trunks: ['127.0.0.1/32'],
          logger: pino({ level: 'silent' }),
          transport: { retransmitTiming: { t1: 100, t2: 400 }, tcpMessageDeadlineMs: 600 },
          onInvite: ({ request: invite }) => invite.reject({ statusCode: 404 }),
        });
      });
      afterAll(() => server.close());

      /** Sends one message; resolves with the final status for its Call-ID, or 'silent'. */
      async function exchange(bytes: Buffer, outcome: Outcome): Promise<{ got: Outcome; closed: boolean }> {
        const callId = callIdOf(bytes);
        const settled = (messages: readonly string[]): boolean => outcome !== 'silent' && finalStatus(messages, callId) !== 0;
        if (transport === 'UDP') {
          const peer = await UdpPeer.open();
          try {
            await peer.send(server.port, withRport(bytes));
            await waitUntil(() => settled(peer.received), { timeoutMs: outcome === 'silent' ? SILENCE_MS : 3000 }).catch(() => undefined);
            const status = finalStatus(peer.received, callId);
            return { got: status === 0 ? 'silent' : status, closed: false };
          } finally {
            await peer.close();
          }
        }
        const peer = await TcpPeer.open(server.port);
        try {
          await peer.write(bytes);
          await waitUntil(() => settled(peer.messages), { timeoutMs: outcome === 'silent' ? SILENCE_MS : 3000 }).catch(() => undefined);
          const status = finalStatus(peer.messages, callId);
          return { got: status === 0 ? 'silent' : status, closed: peer.closed };
        } finally {
          peer.socket.destroy();
        }
      }

      /** The server still serves: an OPTIONS gets 200 on this transport. */
      async function stillServing(): Promise<void> {
        if (transport === 'UDP') {
          const peer = await UdpPeer.open();
          try {
            await peer.send(server.port, request('OPTIONS', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-alive-${Math.random()}` }));
            expect(statusOf((await peer.next())[0])).toBe(200);
          } finally {
            await peer.close();
          }
          return;
        }
        const peer = await TcpPeer.open(server.port);
        try {
          await peer.write(request('OPTIONS', { via: `SIP/2.0/TCP 127.0.0.1:${peer.localPort};branch=z9hG4bK-alive-${Math.random()}` }));
          await waitUntil(() => peer.statuses.length > 0, { what: 'an answer to OPTIONS' });
          expect(peer.statuses).toEqual(['SIP/2.0 200 OK']);
        } finally {
          peer.socket.destroy();
        }
      }

      for (const item of VECTORS) {
        const expected = transport === 'UDP' ? item.udp : item.tcp;
        it(`${item.name} (§${item.section}): ${expected === 'silent' ? 'nothing' : expected}`, async () => {
          const malformedBefore = server.transport.counters.malformed;
          const { got } = await exchange(vector(item.name), expected);
          expect(got).toBe(expected);
          if (item.valid) {
            expect(got).not.toBe(400);
            if (transport === 'UDP' || !item.trailer) expect(server.transport.counters.malformed, 'a valid message counted as malformed').toBe(malformedBefore);
          }
          await stillServing();
        });
      }

      if (transport === 'TCP') {
        it('closes the connection of clerr once its announced body has not come within the deadline', async () => {
          const peer = await TcpPeer.open(server.port);
          await peer.write(vector('clerr'));
          await quietly(100);
          expect(peer.closed).toBe(false);
          await waitUntil(() => peer.closed, { timeoutMs: 3000, what: 'the deadline to close the connection' });
          expect(peer.statuses).toEqual([]);
        });
      }
    });
  }
});

describe('transactions matched per RFC 3261 §17.2.3', () => {
  let server: SipServer | undefined;
  const peers: UdpPeer[] = [];
  afterEach(async () => {
    for (const peer of peers.splice(0)) await peer.close();
    await server?.close();
    server = undefined;
  });

  async function start(onInvite: (invite: InboundInvite) => void): Promise<SipServer> {
    server = await SipServer.start({
      host: '127.0.0.1',
      port: 0,
      trunks: ['127.0.0.1/32'],
      logger: pino({ level: 'silent' }),
      transport: { retransmitTiming: { t1: 100, t2: 400 } },
      onInvite,
    });
    return server;
  }

  async function udpPeer(): Promise<UdpPeer> {
    const peer = await UdpPeer.open();
    peers.push(peer);
    return peer;
  }

  /** An RFC 2543 request: a Via with no branch (its sent-by is the peer, so answers come back without rport). */
  function rfc2543(method: string, peer: UdpPeer, extra: Record<string, string> = {}, body?: string): string {
    return request(method, {
      via: `SIP/2.0/UDP 127.0.0.1:${peer.port}`,
      headers: { 'Call-ID': `rfc2543-${peer.port}@test`, From: `<sip:old@127.0.0.1>;tag=old${peer.port}`, CSeq: `7 ${method}`, ...extra },
      ...(body !== undefined && { body }),
    });
  }

  it('absorbs a retransmitted branchless INVITE, answers it with its Via unchanged, and takes the ACK of the rejection', async () => {
    const invites: InboundInvite[] = [];
    const s = await start((invite) => {
      invites.push(invite);
      invite.request.reject({ statusCode: 486 });
    });
    const peer = await udpPeer();
    const invite = rfc2543('INVITE', peer);
    await peer.send(s.port, invite);
    const busy = await peer.waitFor((m) => statusOf(m) === 486, 'the 486');
    expect(header(busy, 'Via')).toBe(`SIP/2.0/UDP 127.0.0.1:${peer.port}`);
    await peer.send(s.port, invite);
    await waitUntil(() => peer.received.filter((m) => statusOf(m) === 486).length >= 2, { what: 'the 486 again' });
    expect(invites).toHaveLength(1);
    await peer.send(s.port, rfc2543('ACK', peer, { To: header(busy, 'To') ?? '' }));
    await waitUntil(() => s.transport.pendingRetransmissions === 0, { what: 'the ACK to stop Timer G' });
    const count = peer.received.length;
    await quietly(300);
    expect(peer.received).toHaveLength(count);
  });

  it('cancels a branchless INVITE: 200 to the CANCEL, 487 to the INVITE', async () => {
    const cancelled: boolean[] = [];
    const s = await start((invite) => {
      invite.request.progress({ statusCode: 180 });
      invite.cancelled.addEventListener('abort', () => cancelled.push(true));
    });
    const peer = await udpPeer();
    await peer.send(s.port, rfc2543('INVITE', peer));
    await peer.waitFor((m) => statusOf(m) === 180, 'the 180');
    await peer.send(s.port, rfc2543('CANCEL', peer));
    await peer.waitFor((m) => statusOf(m) === 200 && header(m, 'CSeq') === '7 CANCEL', 'the 200 to the CANCEL');
    await peer.waitFor((m) => statusOf(m) === 487, 'the 487');
    expect(cancelled).toEqual([true]);
  });

  it('hands the ACK of a 2xx to a branchless INVITE to the dialog', async () => {
    const acks: string[] = [];
    const s = await start(({ request: invite }) => {
      const { session } = invite.accept({ statusCode: 200, body: { contentDisposition: 'session', contentType: 'application/sdp', content: SDP } });
      session.delegate = { onAck: () => void acks.push('ACK') };
    });
    const peer = await udpPeer();
    await peer.send(s.port, rfc2543('INVITE', peer, { 'Content-Type': 'application/sdp' }, SDP));
    const ok = await peer.waitFor((m) => statusOf(m) === 200, 'the 200');
    await peer.send(s.port, rfc2543('ACK', peer, { To: header(ok, 'To') ?? '' }));
    await waitUntil(() => acks.length === 1, { what: 'the ACK in the dialog' });
  });

  it('keeps apart two clients that pick the same branch from different hosts (rule 2: sent-by)', async () => {
    const invites: InboundInvite[] = [];
    const s = await start((invite) => {
      invites.push(invite);
      invite.request.reject({ statusCode: 404 });
    });
    const [a, b] = [await udpPeer(), await udpPeer()];
    for (const peer of [a, b]) {
      await peer.send(s.port, request('INVITE', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKkdjuw` }));
    }
    await a.waitFor((m) => statusOf(m) === 404, 'an answer to the first');
    await b.waitFor((m) => statusOf(m) === 404, 'an answer to the second');
    expect(invites).toHaveLength(2);
  });
});

const SDP = 'v=0\r\no=old 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40010 RTP/AVP 0\r\n';
