/**
 * Inbound SIP through the whole gateway (SIPp as the caller): refusals (403 untrusted trunk, 404 no
 * route, 503 failing answer_url), routing by answer_url, CANCEL while answer_url is being asked,
 * malformed requests, hang-up from either side (with the SIP member leaving), DTMF from the caller as
 * RFC 4733 events (every digit), SIP INFO and in-band tones; and the calls' media: an INVITE without
 * SDP (the 200 offers, the ACK answers), DTMF to the caller as RFC 4733 events, and the hang-up of a
 * caller that sends no RTP.
 *
 * RTP from SIPp: the pcap scenarios announce `[media_port+4]` and play their pcap from that port
 * (see test/integration/sip-call.test.ts); an `RtpCapture` holds that port so that the gateway's
 * RTP has somewhere to go, and gives SIPp its `-mp`.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runSipp, sippMissing, startSipp, type SippRun, type StartedSipp } from '../sipp/sipp.js';
import { decodeG711 } from '../../src/media/rtp/g711.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { dtmfToneSamples, pcmuSamplesPcap } from '../support/pcap.js';
import { waitUntil } from '../support/resources.js';
import { RtpCapture } from '../support/rtpCapture.js';
import { rms } from '../support/tone.js';

const missing = sippMissing();
if (missing) console.warn(`SIP gateway tests skipped: ${missing}`);

const ROOM = 'sip-gw-room';
const CALLER = 'sip-sipp'; // the member name of SIPp's From user `sipp`

/** A local answer_url: records each POST and answers as `reply` says. */
class AnswerServer {
  readonly requests: { body: string; contentType: string | undefined }[] = [];
  reply: (res: ServerResponse) => void = (res) => res.writeHead(500).end();
  private constructor(private readonly server: Server) {}

  static async start(): Promise<AnswerServer> {
    const holder: { self?: AnswerServer } = {};
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const self = holder.self;
        if (!self) return void res.writeHead(500).end();
        self.requests.push({ body, contentType: req.headers['content-type'] });
        self.reply(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    holder.self = new AnswerServer(server);
    return holder.self;
  }

  get url(): string {
    const address = this.server.address();
    return `http://127.0.0.1:${String(typeof address === 'object' && address ? address.port : 0)}/answer`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function json(body: unknown, delayMs = 0): (res: ServerResponse) => void {
  return (res) => {
    const send = (): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  };
}

function expectPassed(run: SippRun): void {
  expect(run.code, run.trace).toBe(0);
}

describe.skipIf(missing !== undefined)('inbound SIP through the gateway (SIPp caller)', () => {
  let gw: TestGateway | undefined;
  let answers: AnswerServer | undefined;
  let pcapDir = '';
  const captures: RtpCapture[] = [];

  beforeAll(() => {
    pcapDir = mkdtempSync(join(tmpdir(), 'legway-sipgw-'));
    writeFileSync(join(pcapDir, 'inband-9.pcap'), pcmuSamplesPcap({ samples: dtmfToneSamples('9', { leadMs: 200, toneMs: 150, silenceMs: 600 }) }));
    writeFileSync(join(pcapDir, 'silence-4s.pcap'), pcmuSamplesPcap({ samples: new Int16Array(4 * 8000) }));
  });
  afterAll(() => rmSync(pcapDir, { recursive: true, force: true }));

  afterEach(async () => {
    await Promise.all(captures.splice(0).map((c) => c.close()));
    await gw?.close();
    gw = undefined;
    await answers?.close();
    answers = undefined;
  });

  async function start(env: Record<string, string> = { LEGWAY_SIP_ROUTES: `*=${ROOM}` }): Promise<TestGateway> {
    gw = await startGateway({ media: true, env: { LEGWAY_SIP_ENABLED: 'true', LEGWAY_SIP_HOST: '127.0.0.1', LEGWAY_SIP_PORT: '0', ...env } });
    return gw;
  }

  async function withAnswerUrl(): Promise<{ g: TestGateway; server: AnswerServer }> {
    answers = await AnswerServer.start();
    return { g: await start({ LEGWAY_ANSWER_URL: answers.url }), server: answers };
  }

  function target(g: TestGateway): string {
    const sip = g.app.sip;
    if (sip === undefined) throw new Error('the gateway runs no SIP server (app.sip is undefined)');
    return `127.0.0.1:${String(sip.port)}`;
  }

  /** The id of the conversation named `name`, or undefined. */
  async function conversationNamed(g: TestGateway, name: string): Promise<string | undefined> {
    const res = await g.api('GET', '/v1/conversations?page_size=100');
    expect(res.status).toBe(200);
    return (res.body._embedded.conversations as any[]).find((c) => c.name === name)?.id as string | undefined;
  }

  async function events(g: TestGateway, cid: string): Promise<any[]> {
    const res = await g.api('GET', `/v1/conversations/${cid}/events?page_size=100`);
    expect(res.status).toBe(200);
    return res.body._embedded.events as any[];
  }

  const callerEvents = (list: any[]): string[] =>
    list.filter((e) => e.type.startsWith('member:') && e.body?.user?.name === CALLER).map((e) => e.type as string);

  /** Waits for the call's sip:hangup in the room and for every SIP leg to be gone; returns the room's events. */
  async function afterHangup(g: TestGateway, cid: string): Promise<any[]> {
    await waitUntil(async () => callerEvents(await events(g, cid)).includes('member:left'), { timeoutMs: 5000, what: 'the SIP member to leave' });
    await waitUntil(() => g.app.legs.active === 0, { timeoutMs: 5000, what: 'no leg running' });
    return events(g, cid);
  }

  /** Starts a SIPp call of a pcap scenario, with an RtpCapture on the port its SDP announces (closed after the test). */
  async function startPcapCall(
    g: TestGateway,
    scenario: string,
    pcap: string | undefined,
    talkMs: number,
    extra: readonly string[] = [],
  ): Promise<{ sipp: StartedSipp; capture: RtpCapture }> {
    const capture = await RtpCapture.open();
    captures.push(capture);
    const sipp = await startSipp({
      scenario,
      transport: 'u1',
      target: target(g),
      timeoutSeconds: Math.ceil(talkMs / 1000) + 10,
      extra: [
        '-mi',
        '127.0.0.1',
        '-mp',
        String(capture.sippMediaPort),
        ...(pcap === undefined ? [] : ['-key', 'pcap', pcap]),
        '-set',
        'talk_ms',
        String(talkMs),
        ...extra,
      ],
    });
    return { sipp, capture };
  }

  async function pcapCall(g: TestGateway, scenario: string, pcap: string, talkMs: number, extra: readonly string[] = []): Promise<SippRun> {
    return (await startPcapCall(g, scenario, pcap, talkMs, extra)).sipp.finished;
  }

  /** The conversation named `name` once it exists, and its connected SIP leg once there is one. */
  async function connectedSipLeg(g: TestGateway, name = ROOM): Promise<{ cid: string; leg: any }> {
    let cid: string | undefined;
    await waitUntil(async () => (cid = await conversationNamed(g, name)) !== undefined, { timeoutMs: 5000, what: `the conversation ${name}` });
    let leg: any;
    await waitUntil(
      async () => {
        const legs = (await g.api('GET', `/v1/conversations/${String(cid)}/legs`)).body;
        leg = (Array.isArray(legs) ? legs : (legs?._embedded?.legs ?? [])).find((l: any) => l.type === 'sip' && l.status === 'connected');
        return leg !== undefined;
      },
      { timeoutMs: 5000, what: 'a connected SIP leg' },
    );
    return { cid: String(cid), leg };
  }

  describe('refusals', () => {
    for (const transport of ['u1', 't1'] as const) {
      it(`an INVITE from outside LEGWAY_SIP_TRUNKS gets 403 (${transport === 'u1' ? 'UDP' : 'TCP'}), and nothing is created`, async () => {
        const g = await start({ LEGWAY_SIP_ROUTES: `*=${ROOM}`, LEGWAY_SIP_TRUNKS: '10.0.0.0/8' });
        expectPassed(await runSipp({ scenario: 'uac-invite-expect-403.xml', transport, target: target(g) }));
        expect(await conversationNamed(g, ROOM)).toBeUndefined();
        expect(g.app.legs.active).toBe(0);
      });

      it(`an INVITE with no route (no LEGWAY_SIP_ROUTES, no answer_url) gets 404 (${transport === 'u1' ? 'UDP' : 'TCP'})`, async () => {
        const g = await start({});
        expectPassed(await runSipp({ scenario: 'uac-invite-expect-404.xml', transport, target: target(g) }));
        expect((await g.api('GET', '/v1/conversations?page_size=100')).body._embedded.conversations).toEqual([]);
        expect(g.app.legs.active).toBe(0);
      });
    }
  });

  describe('a conversation at its member limit', () => {
    it('answers an INVITE into it with 486 Busy Here, and adds no member or leg', async () => {
      const g = await start({ LEGWAY_SIP_ROUTES: `*=${ROOM}`, LEGWAY_MAX_MEMBERS_PER_CONVERSATION: '1' });
      const cid = (await g.api('POST', '/v1/conversations', { body: { name: ROOM } })).body.id as string;
      expect((await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } })).status).toBe(201);
      const before = await events(g, cid);
      expectPassed(await runSipp({ scenario: 'uac-invite-expect-486.xml', transport: 'u1', target: target(g) }));
      expect(await events(g, cid)).toEqual(before);
      expect(g.app.legs.active).toBe(0);
    });
  });

  describe('digest authentication of callers outside the trunks', () => {
    const env = { LEGWAY_SIP_ROUTES: `*=${ROOM}`, LEGWAY_SIP_TRUNKS: '10.0.0.0/8', LEGWAY_SIP_CALLERS: 'alice:wonderland-42,bob:builder-7' };

    it('is challenged with 401; with the right password the call is answered', async () => {
      const g = await start(env);
      const run = await runSipp({
        scenario: 'uac-invite-auth-expect-200-bye.xml',
        transport: 'u1',
        target: target(g),
        extra: ['-au', 'alice', '-ap', 'wonderland-42', '-auth_uri', `service@${target(g)}`],
      });
      expect(run.code, run.trace).toBe(0);
      const cid = await conversationNamed(g, ROOM);
      expect(cid).toBeDefined();
      expect((await afterHangup(g, cid!)).filter((e) => e.type === 'sip:answered')).toHaveLength(1);
    });

    it('a wrong password gets 403, and nothing is created', async () => {
      const g = await start(env);
      const run = await runSipp({ scenario: 'uac-invite-auth-expect-403.xml', transport: 'u1', target: target(g), extra: ['-au', 'alice', '-ap', 'guess'] });
      expect(run.code, run.trace).toBe(0);
      expect(await conversationNamed(g, ROOM)).toBeUndefined();
      expect(g.app.legs.active).toBe(0);
    });
  });

  it('two calls from the same caller id share its member; one hanging up leaves the other up', async () => {
    const g = await start();
    const pcap = join(pcapDir, 'silence-4s.pcap');
    const short = await startPcapCall(g, 'uac-invite-pcmu-rtp-expect-200.xml', pcap, 600);
    const long = await startPcapCall(g, 'uac-invite-pcmu-rtp-expect-200.xml', pcap, 3000);
    const first = await short.sipp.finished;
    expect(first.code, first.trace).toBe(0);
    const cid = await conversationNamed(g, ROOM);
    // The second call is still up after the first one's BYE; its own BYE later finds its dialog.
    expect(g.app.legs.active).toBe(1);
    const second = await long.sipp.finished;
    expect(second.code, second.trace).toBe(0);
    const list = await afterHangup(g, cid!);
    expect(list.filter((e) => e.type === 'sip:hangup').map((e) => e.body.by)).toEqual(['remote', 'remote']);
    expect(callerEvents(list)).toEqual(['member:joined', 'member:left']);
  });

  describe('session timers (RFC 4028)', () => {
    it('accepts the interval a caller asks for with it as refresher, and a refresh re-INVITE keeps the call up', async () => {
      const g = await start();
      const run = await runSipp({ scenario: 'uac-invite-session-timer-expect-200.xml', transport: 'u1', target: target(g) });
      expect(run.code, run.trace).toBe(0);
      const cid = await conversationNamed(g, ROOM);
      const list = await afterHangup(g, cid!);
      expect(list.filter((e) => e.type === 'sip:hangup').map((e) => e.body.by)).toEqual(['remote']);
    });

    it('refuses an interval below 90 s with 422', async () => {
      const g = await start();
      const run = await runSipp({ scenario: 'uac-invite-session-timer-expect-422.xml', transport: 'u1', target: target(g) });
      expect(run.code, run.trace).toBe(0);
      expect(await conversationNamed(g, ROOM)).toBeUndefined();
    });
  });

  describe('answer_url', () => {
    it('is POSTed { from, to, call_id, leg_id }; its conversation action routes the call, which is answered and joins the caller', async () => {
      const { g, server } = await withAnswerUrl();
      server.reply = json([{ action: 'conversation', name: 'from-ncco' }]);
      expectPassed(await runSipp({ scenario: 'uac-invite-expect-200-info-bye.xml', transport: 'u1', target: target(g) }));

      expect(server.requests).toHaveLength(1);
      const asked = server.requests[0];
      expect(asked?.contentType).toMatch(/^application\/json/);
      const posted = JSON.parse(asked?.body ?? '{}') as Record<string, unknown>;
      expect(Object.keys(posted).sort()).toEqual(['call_id', 'from', 'leg_id', 'to']);
      expect(posted).toMatchObject({ from: 'sipp', to: 'service' });
      expect(posted.call_id).toEqual(expect.any(String));
      expect(posted.leg_id).toEqual(expect.any(String));

      const cid = await conversationNamed(g, 'from-ncco');
      expect(cid, 'conversation from-ncco').toBeDefined();
      const list = await afterHangup(g, String(cid));
      expect(callerEvents(list)).toEqual(['member:joined', 'member:left']);
      const answered = list.filter((e) => e.type === 'sip:answered');
      expect(answered).toHaveLength(1);
      // The leg announced to answer_url is the call's leg.
      expect(answered[0].body.leg_id).toBe(posted.leg_id);
    });

    const failures: [string, (res: ServerResponse) => void][] = [
      ['a 500', (res) => void res.writeHead(500).end()],
      ['invalid JSON', json('[{"action": "conversation", ')],
      ['an NCCO without a conversation action', json([{ action: 'talk' }])],
    ];
    for (const [what, reply] of failures) {
      it(`answering ${what} gets the call 503, and creates nothing`, async () => {
        const { g, server } = await withAnswerUrl();
        server.reply = reply;
        const started = performance.now();
        expectPassed(await runSipp({ scenario: 'uac-invite-expect-503.xml', transport: 'u1', target: target(g) }));
        expect(performance.now() - started).toBeLessThan(4000);
        expect(server.requests).toHaveLength(1);
        expect((await g.api('GET', '/v1/conversations?page_size=100')).body._embedded.conversations).toEqual([]);
        expect(g.app.legs.active).toBe(0);
      });
    }

    it('a CANCEL while answer_url is being asked gets 487, and no conversation, member or leg is created', async () => {
      const { g, server } = await withAnswerUrl();
      server.reply = json([{ action: 'conversation', name: 'from-ncco' }], 1500);
      expectPassed(await runSipp({ scenario: 'uac-invite-cancel-after-100-expect-487.xml', transport: 'u1', target: target(g) }));
      // The answer comes after the CANCEL; once it has, still nothing exists.
      await waitUntil(() => server.requests.length === 1, { timeoutMs: 3000, what: 'answer_url to be asked' });
      await new Promise((r) => setTimeout(r, 1800));
      expect(await conversationNamed(g, 'from-ncco')).toBeUndefined();
      expect(g.app.legs.active).toBe(0);
    });
  });

  it.each(['u1', 't1'] as const)(
    'with LEGWAY_SIP_ANSWER_DELAY_MS the call rings first: a CANCEL then gets 487, sip:hangup cancelled, and the member leaves (%s)',
    async (transport) => {
      const g = await start({ LEGWAY_SIP_ROUTES: `*=${ROOM}`, LEGWAY_SIP_ANSWER_DELAY_MS: '3000' });
      const run = await runSipp({ scenario: 'uac-invite-cancel-expect-487.xml', transport, target: target(g) });
      expect(run.code, run.trace).toBe(0);
      const cid = await conversationNamed(g, ROOM);
      expect(cid).toBeDefined();
      const list = await afterHangup(g, cid!);
      const hangups = list.filter((e) => e.type === 'sip:hangup');
      expect(hangups.map((e) => e.body)).toEqual([expect.objectContaining({ cause: 'cancelled', by: 'remote', code: 487 })]);
      expect(list.filter((e) => e.type === 'sip:status').map((e) => e.body.code)).toEqual([180, 487]);
      expect(list.some((e) => e.type === 'sip:answered')).toBe(false);
      expect(callerEvents(list)).toEqual(['member:joined', 'member:left']);
    },
  );

  it('with a static route the answer is immediate: a CANCEL right behind the INVITE meets a 200 (no 487); the caller ACKs and BYEs, and no leg is left', async () => {
    const g = await start();
    const port = Number(target(g).split(':')[1]);
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const received: string[] = [];
    socket.on('message', (m) => received.push(m.toString('utf8')));
    const own = socket.address().port;
    const send = (text: string): Promise<void> =>
      new Promise((resolve, reject) => socket.send(text, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    const sdp = 'v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
    const message = (method: string, cseq: number, branch: string, to: string, body = ''): string =>
      [
        `${method} sip:room@127.0.0.1:${String(port)} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${String(own)};branch=${branch};rport`,
        'From: <sip:sipp@127.0.0.1>;tag=race',
        `To: ${to}`,
        'Call-ID: cancel-race@test',
        `CSeq: ${String(cseq)} ${method}`,
        'Max-Forwards: 70',
        `Contact: <sip:sipp@127.0.0.1:${String(own)}>`,
        ...(body ? ['Content-Type: application/sdp'] : []),
        `Content-Length: ${String(Buffer.byteLength(body))}`,
        '',
        body,
      ].join('\r\n');
    const status = (m: string): string => m.split('\r\n')[0] ?? '';
    const cseq = (m: string): string => /^CSeq: *(.*)$/im.exec(m)?.[1]?.trim() ?? '';
    try {
      await send(message('INVITE', 1, 'z9hG4bK-race-invite', '<sip:room@127.0.0.1>', sdp));
      await send(message('CANCEL', 1, 'z9hG4bK-race-invite', '<sip:room@127.0.0.1>'));
      await waitUntil(
        () => received.some((m) => cseq(m) === '1 CANCEL') && received.some((m) => cseq(m) === '1 INVITE' && /^SIP\/2\.0 [2-6]\d\d /.test(status(m))),
        {
          timeoutMs: 3000,
          what: 'answers to the INVITE and the CANCEL',
        },
      );
      const finals = received.filter((m) => cseq(m) === '1 INVITE' && /^SIP\/2\.0 [2-6]\d\d /.test(status(m)));
      // The gateway answered before the CANCEL was read: 200 to both, never 487.
      expect(finals.map(status)).toContain('SIP/2.0 200 OK');
      expect(finals.map(status).filter((l) => l.includes('487'))).toEqual([]);
      expect(status(received.find((m) => cseq(m) === '1 CANCEL') ?? '')).toBe('SIP/2.0 200 OK');
      const to = /^To: *(.*)$/im.exec(finals[0] ?? '')?.[1]?.trim() ?? '';
      expect(to).toMatch(/;tag=/);
      // The leg is up, waiting for the ACK (the CANCEL changed nothing, as RFC 3261 9.2 says).
      expect(g.app.legs.active).toBe(1);
      await send(message('ACK', 1, 'z9hG4bK-race-ack', to));
      await send(message('BYE', 2, 'z9hG4bK-race-bye', to));
      await waitUntil(() => received.some((m) => cseq(m) === '2 BYE'), { timeoutMs: 3000, what: 'the answer to the BYE' });
    } finally {
      socket.close();
    }
    const list = await afterHangup(g, String(await conversationNamed(g, ROOM)));
    expect(list.filter((e) => e.type === 'sip:hangup').map((e) => e.body.by)).toEqual(['remote']);
    expect(callerEvents(list)).toEqual(['member:joined', 'member:left']);
  });

  describe('malformed requests', () => {
    it('a datagram of garbage and a request without Call-ID are answered 400 or dropped; OPTIONS still gets 200', async () => {
      const g = await start();
      const port = Number(target(g).split(':')[1]);
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
      const received: string[] = [];
      socket.on('message', (m) => received.push(m.toString('utf8')));
      const send = (text: string | Buffer): Promise<void> =>
        new Promise((resolve, reject) => socket.send(text, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      try {
        await send(Buffer.from([0x00, 0xff, 0x13, 0x37, ...Buffer.from('\r\nnot SIP at all \u0001\u0002\r\n\r\n')]));
        const own = socket.address().port;
        await send(
          [
            `OPTIONS sip:gateway@127.0.0.1 SIP/2.0`,
            `Via: SIP/2.0/UDP 127.0.0.1:${String(own)};branch=z9hG4bK-nocallid;rport`,
            'From: <sip:tester@127.0.0.1>;tag=nocallid',
            'To: <sip:gateway@127.0.0.1>',
            'CSeq: 1 OPTIONS',
            'Max-Forwards: 70',
            'Content-Length: 0',
            '',
            '',
          ].join('\r\n'),
        );
        await new Promise((r) => setTimeout(r, 300));
        // Whatever came back is a 400, never a 200.
        for (const m of received) expect(m.split('\r\n')[0]).toMatch(/^SIP\/2\.0 400 /);
      } finally {
        socket.close();
      }
      expectPassed(await runSipp({ scenario: 'uac-options-expect-200.xml', transport: 'u1', target: target(g) }));
    });
  });

  describe('hang-up', () => {
    it('PUT /v1/legs/:id hangup (application token) sends the caller a BYE; sip:hangup by local, and the SIP member leaves', async () => {
      const g = await start();
      const sipp = await startSipp({ scenario: 'uac-invite-expect-200-then-bye-from-gateway.xml', transport: 'u1', target: target(g), timeoutSeconds: 15 });
      let cid: string | undefined;
      await waitUntil(async () => (cid = await conversationNamed(g, ROOM)) !== undefined, { timeoutMs: 5000, what: 'the room' });
      let leg: any;
      await waitUntil(
        async () => {
          const legs = (await g.api('GET', `/v1/conversations/${String(cid)}/legs`)).body;
          leg = (Array.isArray(legs) ? legs : (legs?._embedded?.legs ?? [])).find((l: any) => l.type === 'sip' && l.status === 'connected');
          return leg !== undefined;
        },
        { timeoutMs: 5000, what: 'a connected SIP leg' },
      );
      const res = await g.api('PUT', `/v1/legs/${String(leg.id)}`, { body: { action: 'hangup' } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expectPassed(await sipp.finished);

      const list = await afterHangup(g, String(cid));
      const hangups = list.filter((e) => e.type === 'sip:hangup');
      expect(hangups).toHaveLength(1);
      // A deliberate hang-up on this side (the application's) is by local; system is for the gateway's own.
      expect(hangups[0].body).toMatchObject({ leg_id: leg.id, by: 'local', cause: 'hung up by application' });
      expect(callerEvents(list)).toEqual(['member:joined', 'member:left']);
      expect((await g.api('GET', `/v1/legs/${String(leg.id)}`)).body.status).toBe('ended');
    });

    for (const transport of ['u1', 't1'] as const) {
      it(`a BYE from the caller (${transport === 'u1' ? 'UDP' : 'TCP'}): sip:hangup by remote, and the SIP member leaves`, async () => {
        const g = await start();
        expectPassed(await runSipp({ scenario: 'uac-invite-expect-200-info-bye.xml', transport, target: target(g) }));
        const cid = String(await conversationNamed(g, ROOM));
        const list = await afterHangup(g, cid);
        const hangups = list.filter((e) => e.type === 'sip:hangup');
        expect(hangups).toHaveLength(1);
        expect(hangups[0].body).toMatchObject({ by: 'remote' });
        expect(callerEvents(list)).toEqual(['member:joined', 'member:left']);
        const left = list.find((e) => e.type === 'member:left' && e.body?.user?.name === CALLER);
        expect(left.id).toBeGreaterThan(hangups[0].id);
      });
    }
  });

  describe('DTMF from the caller', () => {
    const dtmf = async (g: TestGateway): Promise<any[]> => (await events(g, String(await conversationNamed(g, ROOM)))).filter((e) => e.type === 'audio:dtmf');

    it("RFC 4733 (SIPp's dtmf_2833_5.pcap, PT 101 as offered): one audio:dtmf 5, method rfc4733", async () => {
      const g = await start();
      expectPassed(await pcapCall(g, 'uac-invite-pcmu-rtp-expect-200.xml', '/usr/share/sip-tester/dtmf_2833_5.pcap', 1500));
      await afterHangup(g, String(await conversationNamed(g, ROOM)));
      const keys = await dtmf(g);
      expect(
        keys.map((e) => e.body),
        JSON.stringify(keys),
      ).toEqual([expect.objectContaining({ digit: '5', method: 'rfc4733' })]);
    });

    it("RFC 4733, every digit (SIPp's dtmf_2833_0.pcap … dtmf_2833_9.pcap, one call each): each call gives one audio:dtmf of its digit, method rfc4733", async () => {
      const digits = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
      // One conversation per digit (dialled user dN), so that each call's events stand apart.
      const g = await start({ LEGWAY_SIP_ROUTES: digits.map((d) => `d${d}=dtmf-${d}`).join(',') });
      for (const digit of digits) {
        const run = await pcapCall(g, 'uac-invite-pcmu-rtp-expect-200.xml', `/usr/share/sip-tester/dtmf_2833_${digit}.pcap`, 400, ['-s', `d${digit}`]);
        expect(run.code, `digit ${digit}: ${run.trace}`).toBe(0);
        const cid = await conversationNamed(g, `dtmf-${digit}`);
        expect(cid, `conversation dtmf-${digit}`).toBeDefined();
        const list = await afterHangup(g, String(cid));
        expect(
          list.filter((e) => e.type === 'sip:answered'),
          `digit ${digit}`,
        ).toHaveLength(1);
        const keys = list.filter((e) => e.type === 'audio:dtmf');
        expect(
          keys.map((e) => e.body),
          `digit ${digit}: ${JSON.stringify(keys)}`,
        ).toEqual([expect.objectContaining({ digit, method: 'rfc4733' })]);
      }
    }, 40_000);

    it('SIP INFO application/dtmf-relay Signal=7: one audio:dtmf 7, method sip-info', async () => {
      const g = await start();
      expectPassed(await runSipp({ scenario: 'uac-invite-expect-200-info-7-bye.xml', transport: 'u1', target: target(g) }));
      await afterHangup(g, String(await conversationNamed(g, ROOM)));
      const keys = await dtmf(g);
      expect(
        keys.map((e) => e.body),
        JSON.stringify(keys),
      ).toEqual([expect.objectContaining({ digit: '7', method: 'sip-info', duration: 160 })]);
    });

    it('in band (PCMU only, 852+1477 Hz for 150 ms): one audio:dtmf 9, method inband', async () => {
      const g = await start();
      expectPassed(await pcapCall(g, 'uac-invite-pcmu-only-rtp-expect-200.xml', join(pcapDir, 'inband-9.pcap'), 2000));
      await afterHangup(g, String(await conversationNamed(g, ROOM)));
      const keys = await dtmf(g);
      expect(
        keys.map((e) => e.body),
        JSON.stringify(keys),
      ).toEqual([expect.objectContaining({ digit: '9', method: 'inband' })]);
    });
  });
  describe('media of SIP calls', () => {
    it('an INVITE without SDP: the 200 offers Opus, G.722, PCMU, PCMA and telephone-event, the ACK answers PCMU; the call is answered and the gateway sends PCMU to the answer', async () => {
      const g = await start();
      // The scenario checks the offer in the 200, and its ACK answers PCMU + telephone-event on the capture's port.
      const { sipp, capture } = await startPcapCall(g, 'uac-invite-no-sdp-answer-in-ack.xml', undefined, 5000);
      const { cid } = await connectedSipLeg(g);
      const talked = await g.api('PUT', `/v1/conversations/${cid}/talk`, {
        body: { text: 'Hello caller, this is the gateway speaking to you now.', language: 'en', rate: 140 },
      });
      expect(talked.status, JSON.stringify(talked.body)).toBe(200);
      await capture.until((lastHalfSecond) => rms(lastHalfSecond) > 500, 'speech from the gateway as PCMU', 4000);
      expect(capture.sources).toHaveLength(1);
      expect(new Set(capture.packets.map((p) => p.payloadType))).toEqual(new Set([0]));
      expectPassed(await sipp.finished);

      const list = await afterHangup(g, cid);
      expect(list.filter((e) => e.type === 'sip:answered')).toHaveLength(1);
      expect(list.filter((e) => e.type === 'sip:hangup').map((e) => e.body.by)).toEqual(['remote']);
      expect(callerEvents(list)).toEqual(['member:joined', 'member:left']);
    });

    it('PUT /v1/legs/:id/dtmf to a caller that offered telephone-event/8000 as PT 101 sends RFC 4733 events 1, 2, 11 (#), each ended, and no tones', async () => {
      const g = await start();
      const { sipp, capture } = await startPcapCall(g, 'uac-invite-pcmu-rtp-expect-200.xml', join(pcapDir, 'silence-4s.pcap'), 4000);
      const { cid, leg } = await connectedSipLeg(g);
      const sentAt = performance.now();
      const res = await g.api('PUT', `/v1/legs/${String(leg.id)}/dtmf`, { body: { digits: '12#' } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);

      // RFC 4733 events: byte 0 the event, bit 0x80 of byte 1 the end; one event per RTP timestamp.
      const events4733 = (): { timestamp: number; event: number; end: boolean }[] =>
        capture
          .since(sentAt)
          .filter((p) => p.payloadType === 101 && p.payload.length >= 4)
          .map((p) => ({ timestamp: p.timestamp, event: p.payload[0] ?? -1, end: ((p.payload[1] ?? 0) & 0x80) !== 0 }));
      const ended = (): number[] => [
        ...new Map(
          events4733()
            .filter((e) => e.end)
            .map((e) => [e.timestamp, e.event]),
        ).values(),
      ];
      await waitUntil(() => ended().length >= 3, {
        timeoutMs: 4000,
        what: () => `three ended RFC 4733 events (${JSON.stringify(events4733())}; ${capture.describe()})`,
      });
      await new Promise((r) => setTimeout(r, 200));
      const all = events4733();
      // Each event is sent under one timestamp from its start to its (repeated) end packets, events in order.
      const byTimestamp = [...new Map(all.map((e) => [e.timestamp, e.event])).entries()];
      expect(
        byTimestamp.map(([, event]) => event),
        JSON.stringify(all),
      ).toEqual([1, 2, 11]);
      for (const [timestamp, event] of byTimestamp) {
        const packets = all.filter((e) => e.timestamp === timestamp);
        expect(packets.every((e) => e.event === event)).toBe(true);
        expect(
          packets.some((e) => e.end),
          `event ${String(event)} ends`,
        ).toBe(true);
      }
      // No tones in band meanwhile: the PCMU the caller gets is as silent as what it sends.
      const pcmu = capture.since(sentAt).filter((p) => p.payloadType === 0);
      const samples = new Int16Array(pcmu.length * 160);
      for (const [i, p] of pcmu.entries()) decodeG711('PCMU', p.payload, samples.subarray(i * 160, i * 160 + p.payload.length));
      expect(rms(samples)).toBeLessThan(300);
      expectPassed(await sipp.finished);

      const list = await afterHangup(g, cid);
      expect(
        list.filter((e) => e.type === 'audio:dtmf').map((e) => e.body),
        'each key logged',
      ).toEqual(['1', '2', '#'].map((digit) => expect.objectContaining({ leg_id: leg.id, digit, method: 'api' })));
    });

    it('with LEGWAY_SIP_RTP_TIMEOUT_S=1, a caller that sends no RTP gets a BYE: sip:hangup "no RTP received" by system, and the member leaves', async () => {
      const g = await start({ LEGWAY_SIP_ROUTES: `*=${ROOM}`, LEGWAY_SIP_RTP_TIMEOUT_S: '1' });
      const started = performance.now();
      expectPassed(await runSipp({ scenario: 'uac-invite-silent-expect-bye.xml', transport: 'u1', target: target(g), timeoutSeconds: 10 }));
      const took = performance.now() - started;
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(6000);
      const list = await afterHangup(g, String(await conversationNamed(g, ROOM)));
      expect(list.filter((e) => e.type === 'sip:answered')).toHaveLength(1);
      const hangups = list.filter((e) => e.type === 'sip:hangup');
      expect(hangups.map((e) => e.body)).toEqual([expect.objectContaining({ cause: 'no RTP received', by: 'system' })]);
      expect(callerEvents(list)).toEqual(['member:joined', 'member:left']);
    });
  });
});
