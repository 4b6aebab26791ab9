/**
 * SIP calls against the real `legway serve` process (test/support/process.ts runs the compiled
 * gateway in dist/), where what the process holds and whether it exits can be seen from outside:
 *
 * - Calls refused after being admitted, 10,000 of them over UDP as fast as the gateway answers them
 *   (up to 200 a second, at most 50 waiting): From or dialled users over 300 characters (which
 *   used to fail only when the member was stored, after the call's RTP ports were bound, and
 *   leaked them; now 400 before anything is allocated), answer_url answering 500 or no
 *   conversation (503). Afterwards the process's UDP sockets and file descriptors are what they
 *   were, and with only 100 RTP ports (a leak would have used them up) a normal call gets 200.
 * - SIGTERM with calls in every state — being routed, ringing, answered and waiting for the ACK,
 *   connected, held, dialling out, and 50 more being set up — ends them all (BYE to the callers
 *   that were answered, 480 or 503 to the others, CANCEL to the callee) and the process exits
 *   within LEGWAY_SHUTDOWN_TIMEOUT_MS, cleanly; the next start on the same data folder serves.
 *
 * No timing is asserted beyond the configured shutdown deadline (plus a margin).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort, sippMissing, startSipp, type SippRun, type StartedSipp } from '../sipp/sipp.js';
import { AnswerServer } from '../support/answerServer.js';
import { pcmuSamplesPcap } from '../support/pcap.js';
import { processApi, requireBuiltCli, runCli, spawnGateway, stop, type RunningGateway } from '../support/process.js';
import { openFds, processAlive, udpSocketsOf, waitUntil } from '../support/resources.js';
import { RtpCapture } from '../support/rtpCapture.js';
import { SipProbe } from '../support/sipProbe.js';

const missing = sippMissing();
if (missing) console.warn(`SIP process tests skipped: ${missing}`);

const SECRET = 'sip-shutdown-test-secret-long-enough-for-hs256';
const SHUTDOWN_TIMEOUT_MS = 5000;

describe.skipIf(missing !== undefined)('the SIP gateway as a process', () => {
  let dir: string;
  const running: RunningGateway[] = [];
  const sipps: StartedSipp[] = [];
  const probes: SipProbe[] = [];
  const captures: RtpCapture[] = [];
  let answers: AnswerServer | undefined;

  beforeAll(() => {
    requireBuiltCli();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-sip-proc-'));
  });
  afterEach(async () => {
    await Promise.all(probes.splice(0).map((p) => p.close()));
    for (const g of running.splice(0)) await stop(g, 'SIGKILL');
    await Promise.all(sipps.splice(0).map((s) => s.finished));
    await Promise.all(captures.splice(0).map((c) => c.close()));
    await answers?.close();
    answers = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  interface Started {
    g: RunningGateway;
    pid: number;
    sipPort: number;
    env: Record<string, string>;
    api: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  }

  async function serve(extra: Record<string, string>, sipPort?: number): Promise<Started> {
    const port = sipPort ?? (await freePort());
    const env = {
      LEGWAY_SECRET: SECRET,
      LEGWAY_SIP_PORT: String(port),
      LEGWAY_SIP_TRUNKS: '127.0.0.0/8',
      LEGWAY_RTC_LISTEN_IP: '127.0.0.1',
      LEGWAY_MEDIA_WORKERS: '1',
      // info at least: spawnGateway learns the HTTP port from the 'legway listening' line.
      LEGWAY_LOG_LEVEL: process.env.LEGWAY_TEST_LOG_LEVEL ?? 'info',
      ...extra,
    };
    const g = await spawnGateway(dir, env);
    running.push(g);
    const token = runCli(dir, ['token', '--sub', 'backend', '--role', 'application'], env).stdout.trim();
    const api = processApi(g, token);
    const pid = g.child.pid;
    if (pid === undefined) throw new Error('the gateway process has no pid');
    return { g, pid, sipPort: port, env, api };
  }

  async function sipp(options: Parameters<typeof startSipp>[0]): Promise<StartedSipp> {
    const started = await startSipp(options);
    sipps.push(started);
    return started;
  }

  const expectPassed = (run: SippRun): void => expect(run.code, run.trace).toBe(0);

  /** A value read until it stays the same for `samples` reads in a row. */
  async function settled(read: () => number, samples = 5): Promise<number> {
    let value = read();
    let same = 1;
    await waitUntil(
      () => {
        const now = read();
        same = now === value ? same + 1 : 1;
        value = now;
        return same >= samples;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'a steady value' },
    );
    return value;
  }

  it('10,000 INVITEs refused after admission (over-long names, answer_url failing) leave no port behind: UDP sockets and fds back at baseline, and a normal call still gets 200', async () => {
    answers = await AnswerServer.start();
    const server = answers;
    // answer_url: 500 for `fail`, an NCCO without a conversation for `talk`, else the room.
    server.reply = (r) =>
      r.to === 'fail'
        ? { status: 500 }
        : r.to === 'talk'
          ? { body: [{ action: 'talk', text: 'hello' }] }
          : { body: [{ action: 'conversation', name: 'leak-room' }] };
    // 100 RTP ports: 50 calls' worth. A leak of one pair per failed call would use them up long before the end.
    const rtpBase = 30_000 + 2 * Math.floor(Math.random() * 1000);
    const { pid, sipPort } = await serve({
      LEGWAY_ANSWER_URL: server.url,
      LEGWAY_SIP_ROUTES: 'room=leak-room',
      LEGWAY_RTP_PORTS: `${rtpBase}-${rtpBase + 99}`,
      // The flood keeps the process busy; each INVITE must meet its own refusal, not admission by load.
      LEGWAY_ADMISSION_MAX_LOAD: '1',
    });

    const udpBaseline = await settled(() => udpSocketsOf(pid));
    const fdBaseline = await settled(() => openFds(pid));
    const long = 'x'.repeat(301);
    const probe = await SipProbe.open({ address: '127.0.0.1', port: sipPort });
    probes.push(probe);
    const kinds = [
      { user: 'room', fromUser: long }, // a From user too long to be a member's name: 400
      { user: long, fromUser: 'caller' }, // a dialled user too long: 400
      { user: 'fail', fromUser: 'caller' }, // answer_url answers 500: 503
      { user: 'talk', fromUser: 'caller' }, // answer_url answers no conversation: 503
    ];
    const calls = await probe.inviteMany(10_000, (i) => kinds[i % kinds.length]!, { perTick: 10, tickMs: 50, maxOutstanding: 50 });
    await waitUntil(() => calls.every((c) => c.final !== undefined), {
      timeoutMs: 60_000,
      what: () => `a final response to every INVITE (${calls.filter((c) => c.final).length} of ${calls.length})`,
    });

    // Everything the refused calls opened is closed again.
    await waitUntil(() => udpSocketsOf(pid) === udpBaseline, {
      timeoutMs: 10_000,
      what: () => `UDP sockets back at ${udpBaseline} (now ${udpSocketsOf(pid)})`,
    });
    await waitUntil(() => openFds(pid) <= fdBaseline, { timeoutMs: 10_000, what: () => `file descriptors back at ${fdBaseline} (now ${openFds(pid)})` });

    // Each refused as its reason says; the over-long names before answer_url was asked.
    const byKind = kinds.map((_, k) => [...new Set(calls.filter((_c, i) => i % kinds.length === k).map((c) => c.final?.status))]);
    expect(byKind).toEqual([[400], [400], [503], [503]]);
    expect(server.requests.filter((r) => r.to.length > 128 || r.from.length > 128)).toEqual([]);

    // A normal call: its RTP ports are found in the small range, it is answered, and it frees them.
    const capture = await RtpCapture.open();
    captures.push(capture);
    const pcapDir = mkdtempSync(join(tmpdir(), 'legway-leak-pcap-'));
    try {
      writeFileSync(join(pcapDir, 'silence.pcap'), pcmuSamplesPcap({ samples: new Int16Array(2 * 8000) }));
      const caller = await sipp({
        scenario: 'uac-invite-pcmu-rtp-expect-200.xml',
        transport: 'u1',
        target: `127.0.0.1:${sipPort}`,
        timeoutSeconds: 15,
        extra: [
          '-s',
          'room',
          '-mi',
          '127.0.0.1',
          '-mp',
          String(capture.sippMediaPort),
          '-key',
          'pcap',
          join(pcapDir, 'silence.pcap'),
          '-set',
          'talk_ms',
          '1000',
        ],
      });
      expectPassed(await caller.finished);
    } finally {
      rmSync(pcapDir, { recursive: true, force: true });
    }
    await waitUntil(() => udpSocketsOf(pid) === udpBaseline, {
      timeoutMs: 10_000,
      what: () => `UDP sockets back at ${udpBaseline} after the call (now ${udpSocketsOf(pid)})`,
    });
  }, 240_000);
  it('SIGTERM with calls routing, ringing, answered before the ACK, connected, held, dialling out and 50 more being set up: every call is ended, the process exits within LEGWAY_SHUTDOWN_TIMEOUT_MS, and the next start serves', async () => {
    answers = await AnswerServer.start();
    const server = answers;
    // `stuck` is never answered (its call stays in routing); every other call goes to the room.
    server.reply = (r) => (r.to.startsWith('stuck') ? undefined : { body: [{ action: 'conversation', name: 'shutdown-room' }] });
    const ANSWER_DELAY_MS = 5000;
    const first = await serve({
      LEGWAY_ANSWER_URL: server.url,
      LEGWAY_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      LEGWAY_SIP_ANSWER_DELAY_MS: String(ANSWER_DELAY_MS),
    });
    const { pid, sipPort, api } = first;
    const target = `127.0.0.1:${sipPort}`;
    const legOf = (to: string): string => String(server.requests.find((r) => r.to === to)?.leg_id);
    const status = async (legId: string): Promise<string> => (await api('GET', `/v1/legs/${legId}`)).body?.status as string;

    // Answered after the ring: one stays connected, one holds (re-INVITE sendonly), one does not ACK yet.
    const connected = await sipp({
      scenario: 'uac-invite-expect-200-then-bye-from-gateway.xml',
      transport: 'u1',
      target,
      timeoutSeconds: 20,
      extra: ['-s', 'connected'],
    });
    const held = await sipp({
      scenario: 'uac-invite-hold-then-expect-bye-from-gateway.xml',
      transport: 'u1',
      target,
      timeoutSeconds: 20,
      extra: ['-s', 'held'],
    });
    const lateAck = await sipp({
      scenario: 'uac-invite-expect-200-ack-late.xml',
      transport: 'u1',
      target,
      timeoutSeconds: 20,
      extra: ['-s', 'late-ack', '-set', 'ack_delay_ms', '8000'],
    });
    await waitUntil(() => ['connected', 'held', 'late-ack'].every((to) => server.requests.some((r) => r.to === to)), {
      timeoutMs: 10_000,
      what: 'the first three calls to be routed',
    });
    const cid = String((await api('GET', '/v1/conversations?page_size=10')).body._embedded.conversations.find((c: any) => c.name === 'shutdown-room')?.id);
    await waitUntil(async () => (await status(legOf('connected'))) === 'connected', { timeoutMs: 15_000, what: 'the connected call' });
    await waitUntil(async () => (await status(legOf('late-ack'))) === 'connecting', { timeoutMs: 15_000, what: 'the call waiting for its ACK' });
    await waitUntil(
      async () => {
        const list = (await api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events as any[];
        return list.some((e) => e.type === 'member:media' && e.body.leg_id === legOf('held') && e.body.media.audio === false);
      },
      { timeoutMs: 15_000, what: 'the held call to be on hold' },
    );

    // Ringing (the answer delay), being routed (answer_url silent), dialling out (the callee rings).
    const ringing = await sipp({ scenario: 'uac-invite-ring-expect-480.xml', transport: 'u1', target, timeoutSeconds: 20, extra: ['-s', 'ringing'] });
    const routing = await sipp({ scenario: 'uac-invite-expect-503.xml', transport: 'u1', target, timeoutSeconds: 20, extra: ['-s', 'stuck'] });
    const callee = await sipp({ scenario: 'uas-invite-ring-expect-cancel-then-487.xml', transport: 'u1', timeoutSeconds: 20 });
    const dialled = await api('POST', '/v1/calls', { to: { type: 'sip', uri: `sip:bob@127.0.0.1:${callee.port}` }, conversation_id: cid, ringing_timer: 60 });
    expect(dialled.status, JSON.stringify(dialled.body)).toBe(201);
    // And 50 more being set up: half routing, half ringing.
    const probe = await SipProbe.open({ address: '127.0.0.1', port: sipPort });
    probes.push(probe);
    const more = await probe.inviteMany(50, (i) => ({ user: i % 2 === 0 ? `stuck-${i}` : `ring-${i}`, fromUser: `burst${i}` }), { perTick: 50, tickMs: 0 });
    await waitUntil(() => more.every((c, i) => (i % 2 === 0 ? c.answered : c.responses.some((r) => r.status === 180))), {
      timeoutMs: 10_000,
      what: 'the 50 calls to be routing or ringing',
    });
    // An inbound call that rings (180 sent, not answered yet) is `answering`.
    await waitUntil(async () => (await status(legOf('ringing'))) === 'answering', { timeoutMs: 10_000, what: 'the ringing call' });
    await waitUntil(async () => (await status(String(dialled.body.id))) === 'ringing', { timeoutMs: 10_000, what: 'the outbound call to ring' });
    await waitUntil(() => server.requests.filter((r) => r.to.startsWith('stuck')).length === 26, {
      timeoutMs: 10_000,
      what: 'answer_url to be asked for every routing call',
    });
    // Every state at once, right now.
    expect(await status(legOf('connected'))).toBe('connected');
    expect(await status(legOf('held'))).toBe('connected');
    expect(await status(legOf('late-ack'))).toBe('connecting');
    expect(more.filter((c) => c.final !== undefined)).toEqual([]);

    const exited = new Promise<number | null>((resolve) => first.g.child.once('exit', (code) => resolve(code)));
    first.g.child.kill('SIGTERM');
    // Gone within the shutdown timeout (plus a margin for a loaded machine), and by a clean stop.
    await waitUntil(() => !processAlive(pid), { timeoutMs: SHUTDOWN_TIMEOUT_MS + 3000, intervalMs: 100, what: 'the gateway process to exit after SIGTERM' });
    expect(await exited, first.g.output().split('\n').slice(-15).join('\n')).toBe(0);

    // Those that were answered got a BYE (and answered it); the ringing one 480, the routing one
    // 503, the callee a CANCEL; the one that had not ACKed got its 200.
    expectPassed(await connected.finished);
    expectPassed(await held.finished);
    expectPassed(await ringing.finished);
    expectPassed(await routing.finished);
    expectPassed(await callee.finished);
    expectPassed(await lateAck.finished);
    expect(more.map((c, i) => `${i % 2 === 0 ? 'routing' : 'ringing'} ${String(c.final?.status)}`)).toEqual(
      more.map((_c, i) => (i % 2 === 0 ? 'routing 503' : 'ringing 480')),
    );
    for (const c of more.filter((_c, i) => i % 2 === 0)) expect(c.final?.header('retry-after')).toMatch(/^\d+$/);

    // The next start on the same data folder serves, and finds every leg ended by the stop itself.
    const second = await serve({ LEGWAY_ANSWER_URL: server.url }, sipPort);
    const health = await fetch(`${second.g.url}/healthz`);
    expect(health.status).toBe(200);
    const legs = (await second.api('GET', `/v1/conversations/${cid}/legs`)).body._embedded.legs as any[];
    expect(legs.length).toBe(4 + 25 + 1);
    expect(legs.filter((l) => l.status !== 'ended' || l.end_reason === 'gateway restarted')).toEqual([]);
  }, 60_000);
});
