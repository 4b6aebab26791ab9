/**
 * RFC 3261 §8.2.2.2 (merged requests) in sip.js's core, as our patch (patches/sip.js+<version>.patch)
 * makes it: a request without a To tag whose From tag, Call-ID and CSeq are those of a transaction
 * under way, but that is not that transaction's (another branch: the same request forked along
 * another path), gets 482 Loop Detected; a retransmission (same branch) goes to its transaction.
 * The patch keeps the UASs counted by those three fields instead of scanning them all; these
 * checks follow the count through every way a UAS comes and goes: a 2xx kept for Timer L, a
 * rejection ended by its ACK, the core's reset.
 */
import { readFileSync } from 'node:fs';
import { Core, URI } from 'sip.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

interface Fields {
  branch: string;
  fromTag?: string;
  callId?: string;
  cseq?: number;
  method?: 'INVITE' | 'ACK' | 'OPTIONS';
  toTag?: string;
}

/** A request as a UDP peer at 127.0.0.1:5999 sends it (an INVITE carries an SDP offer). */
function text(f: Fields): string {
  const method = f.method ?? 'INVITE';
  const body = method === 'INVITE' ? SDP : '';
  return [
    `${method} sip:gateway@127.0.0.1:5060 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5999;branch=${f.branch}`,
    `From: <sip:caller@127.0.0.1>;tag=${f.fromTag ?? 'caller-tag'}`,
    `To: <sip:gateway@127.0.0.1>${f.toTag ? `;tag=${f.toTag}` : ''}`,
    `Call-ID: ${f.callId ?? 'merged-1@test'}`,
    `CSeq: ${f.cseq ?? 1} ${method}`,
    'Contact: <sip:caller@127.0.0.1:5999>',
    'Max-Forwards: 70',
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

const statusOf = (message: string): number => Number(/^SIP\/2\.0 (\d{3})/.exec(message)?.[1] ?? 0);
const toTagOf = (message: string): string | undefined => /\r\nTo:[^\r]*;tag=([^;\r]+)/.exec(message)?.[1];

describe('sip.js merged requests (RFC 3261 §8.2.2.2), as patched', () => {
  let core: Core.UserAgentCore;
  let sent: string[];
  let invites: Core.IncomingInviteRequest[];
  let logger: Core.Logger;

  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    invites = [];
    const loggerFactory = new Core.LoggerFactory();
    loggerFactory.builtinEnabled = false;
    logger = loggerFactory.getLogger('test');
    const aor = new URI('sip', 'gateway', '127.0.0.1', 5060);
    const transport: Core.Transport = {
      protocol: 'UDP',
      send: (message) => {
        sent.push(message);
        return Promise.resolve();
      },
    };
    core = new Core.UserAgentCore(
      {
        aor,
        contact: { pubGruu: undefined, tempGruu: undefined, uri: aor, toString: () => `<${aor.toString()}>` },
        displayName: '',
        loggerFactory,
        hackViaTcp: false,
        routeSet: [],
        sipjsId: 'test',
        supportedOptionTags: [],
        supportedOptionTagsResponse: [],
        userAgentHeaderFieldValue: 'test',
        viaForceRport: false,
        viaHost: '127.0.0.1:5060',
        authenticationFactory: () => undefined,
        transportAccessor: () => transport,
      },
      { onInvite: (request) => invites.push(request) },
    );
  });

  afterEach(() => {
    core.dispose();
    vi.useRealTimers();
  });

  /** Hands a request to the core as the transport would; returns the statuses sent meanwhile. */
  function receive(f: Fields): number[] {
    const message = Core.Parser.parseMessage(text(f), logger);
    if (!(message instanceof Core.IncomingRequestMessage)) throw new Error('the test could not parse its own request');
    const before = sent.length;
    core.receiveIncomingRequestFromTransport(message);
    return sent.slice(before).map(statusOf);
  }

  it('is applied: the core checks merged requests through its count, not a scan of every transaction', () => {
    const source = readFileSync(new URL('../../node_modules/sip.js/lib/core/user-agent-core/user-agent-core.js', import.meta.url), 'utf8');
    expect(source).toContain('this.userAgentServers.hasMergeMatch(message)');
    expect(source).not.toContain('Array.from(this.userAgentServers.values()).some(');
  });

  it('answers 482 to the same INVITE by another path while the first rings, and its retransmission only repeats the 180', () => {
    expect(receive({ branch: 'z9hG4bK-first' })).toEqual([]);
    expect(invites).toHaveLength(1);
    invites[0]!.progress({ statusCode: 180 });
    expect(sent.map(statusOf)).toEqual([180]);

    expect(receive({ branch: 'z9hG4bK-forked' })).toEqual([482]);
    expect(receive({ branch: 'z9hG4bK-first' })).toEqual([180]);
    expect(invites).toHaveLength(1);
  });

  it('takes as new what differs in From tag, Call-ID or CSeq, and a request inside a dialog (To tag) is not checked', () => {
    receive({ branch: 'z9hG4bK-first' });
    expect(receive({ branch: 'z9hG4bK-a', fromTag: 'other-tag' })).toEqual([]);
    expect(receive({ branch: 'z9hG4bK-b', callId: 'merged-2@test' })).toEqual([]);
    expect(receive({ branch: 'z9hG4bK-c', cseq: 2 })).toEqual([]);
    expect(invites).toHaveLength(4);
    // In-dialog requests go to their dialog (none here: 481), never 482.
    expect(receive({ branch: 'z9hG4bK-d', toTag: 'some-dialog' })).toEqual([481]);
    expect(core.userAgentServers.size).toBe(4);
  });

  it('keeps answering 482 after the 2xx while the transaction waits out Timer L, and forgets it after', async () => {
    receive({ branch: 'z9hG4bK-first' });
    invites[0]!.accept({ statusCode: 200, body: { contentDisposition: 'session', contentType: 'application/sdp', content: SDP } });
    expect(sent.map(statusOf)).toEqual([200]);
    expect(receive({ branch: 'z9hG4bK-forked' })).toEqual([482]);

    await vi.advanceTimersByTimeAsync(Core.Timers.TIMER_L);
    expect(core.userAgentServers.size).toBe(0);
    expect(receive({ branch: 'z9hG4bK-later' })).toEqual([]);
    expect(invites).toHaveLength(2);
  });

  it('forgets a rejected INVITE once its ACK ends the transaction, and its retransmission before that repeats the rejection', async () => {
    receive({ branch: 'z9hG4bK-first' });
    invites[0]!.reject({ statusCode: 486 });
    const rejection = sent.at(-1)!;
    expect(statusOf(rejection)).toBe(486);
    expect(receive({ branch: 'z9hG4bK-first' })).toEqual([486]);
    expect(receive({ branch: 'z9hG4bK-forked' })).toEqual([482]);

    // The ACK of a non-2xx belongs to the INVITE's transaction (same branch) and ends it (Timer I is 0 over UDP).
    receive({ branch: 'z9hG4bK-first', method: 'ACK', toTag: toTagOf(rejection)! });
    await vi.advanceTimersByTimeAsync(0);
    expect(core.userAgentServers.size).toBe(0);
    expect(receive({ branch: 'z9hG4bK-again' })).toEqual([]);
    expect(invites).toHaveLength(2);
  });

  it('matches exactly as the scan it replaces (=== on each field), whatever the values, through random changes', () => {
    type Request = { fromTag: unknown; callId: unknown; cseq: unknown };
    const servers = core.userAgentServers as unknown as Map<string, { transaction: { request: Request } }> & { hasMergeMatch(message: Request): boolean };
    const shared = { tag: 'x' };
    const values = {
      fromTag: [undefined, null, '', 'u', 'a', 's1:a', 'a;b', shared],
      callId: ['x', 'y', 'n1;', 'u', '', undefined, shared],
      cseq: [1, 2, 0, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e21, undefined, '1'],
    };
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pick = <T>(list: readonly T[]): T => list[random(list.length)]!;
    const request = (): Request => ({ fromTag: pick(values.fromTag), callId: pick(values.callId), cseq: pick(values.cseq) });
    const scan = (m: Request): boolean =>
      [...servers.values()].some(({ transaction: { request: r } }) => r.fromTag === m.fromTag && r.callId === m.callId && r.cseq === m.cseq);
    let disagreements = 0;
    let merged = 0;
    for (let i = 0; i < 5000; i++) {
      const op = random(4);
      const id = `z9hG4bK-${random(12)}`;
      if (op === 0) servers.set(id, { transaction: { request: request() } });
      else if (op === 1) servers.delete(id);
      else if (op === 2 && random(50) === 0) servers.clear();
      const m = request();
      if (servers.hasMergeMatch(m) !== scan(m)) disagreements++;
      if (scan(m)) merged++;
    }
    // The stand-ins have no transaction to dispose of when the core is.
    servers.clear();
    expect(disagreements).toBe(0);
    expect(merged).toBeGreaterThan(200);
  });

  it('counts every transaction with the same fields, and forgets them all when the core is reset', () => {
    // A non-INVITE request with the INVITE's fields (another method, same CSeq number) counts too, as sip.js compares no method.
    receive({ branch: 'z9hG4bK-first' });
    expect(receive({ branch: 'z9hG4bK-options', method: 'OPTIONS' })).toEqual([482]);
    core.reset();
    expect(core.userAgentServers.size).toBe(0);
    expect(receive({ branch: 'z9hG4bK-after-reset' })).toEqual([]);
    expect(invites).toHaveLength(2);
  });
});
