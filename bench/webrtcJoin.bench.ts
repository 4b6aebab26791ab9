/**
 * Benchmark 9: WebRTC join latency, `rtc:new` → the ack with the SDP answer, on a real gateway in
 * this process with media (mediasoup, one worker), at a steady rate of joins. The clients (their
 * offers, socket.io connections, the paced joins and the timing) run in a separate Node process,
 * bench/webrtcJoinClients.ts, driven over IPC (bench/webrtcJoinIpc.ts), as browsers would be
 * elsewhere: this process's main thread, heap and CPU figure are the gateway's alone. The limit,
 * measured in the same run on the same worker (so here, not in the clients' process): the raw
 * mediasoup work one join needs, as src/media/mediasoup/webRtcEndpoint.ts does it, with no gateway
 * around it.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { types as ms } from 'mediasoup';
import { pino } from 'pino';
import type { App } from '../src/app.js';
import { LoopbackRtp } from '../src/media/mediasoup/loopbackRtp.js';
import { readOffer } from '../src/media/mediasoup/offer.js';
import { audioLevelExtensionOf, capabilitiesFor, OPUS, producerParameters } from '../src/media/mediasoup/rtpParameters.js';
import { APPLICATION, startBenchGateway } from './gateway.js';
import { StallMonitor, type Stall } from './stalls.js';
import { fixed, percentile, processCpuMs, startWindow, table, type BenchResult } from './stats.js';
import type { SummaryRow } from './summary.js';
import { ClientProcess, paced, type ClientSpec } from './webrtcJoinIpc.js';

const RATE_PER_S = 50;
const DURATION_S = 10;
const JOINS = RATE_PER_S * DURATION_S;
const ROOM_SIZE = 5;
const LIMIT_JOINS = 250;
/** Joins before timing (in conversations of their own, hung up again), so the first router, transport and compiled code are not timed. */
const WARMUP_JOINS = 2 * 5;
const TARGET_P99_MS = 20;
/** Offers made at once while preparing (each from its own peer connection, closed once it has offered). */
const OFFER_BATCH = 20;

/** How long the clients' process may take over each step before the bench gives up on it (its own acks time out sooner). */
const OFFERS_TIMEOUT_MS = 180_000;
const CONNECT_TIMEOUT_MS = 120_000;
const WARMUP_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = DURATION_S * 1000 + 60_000;
const HANGUP_TIMEOUT_MS = 30_000;

export const webrtcJoinMethod =
  'A real gateway in this process as `npm start` makes it (its own mediasoup engine with one worker, the audio bridges on media threads; 127.0.0.1), ' +
  'and its clients in a separate Node process (bench/webrtcJoinClients.ts, driven over IPC), as browsers would be elsewhere: their ' +
  "offers, socket.io parsing and garbage do not share the gateway's main thread or heap. Before timing, in the clients' process: " +
  `${JOINS + WARMUP_JOINS} real offers, each from its own @roamhq/wrtc RTCPeerConnection with one sendrecv audio transceiver ` +
  '(createOffer, setLocalDescription, ICE gathering complete; the connection is then closed: only the answer is timed); ' +
  `${JOINS} members in ${JOINS / ROOM_SIZE} conversations of ${ROOM_SIZE}, made in this process through the services, each with its ` +
  "own socket.io client (websocket) in the clients' process, with a token from this process, that has sent conversation:join. " +
  `A warm-up of ${WARMUP_JOINS} joins in conversations of their own, hung up again, so that the first router and the code compiled ` +
  `on first use are not timed. Then the clients' process sends one rtc:new every ${1000 / RATE_PER_S} ms (${RATE_PER_S}/s for ` +
  `${DURATION_S} s, conversations in turn) and times each from emit to its ack (performance.now() there, so a pause in either ` +
  'process counts), which must carry an SDP answer with a fingerprint; p50, p99 and max. CPU per join: this process (the gateway ' +
  'only; process.cpuUsage from the command that starts the joins to their results), the mediasoup worker (/proc/<pid>/stat, same ' +
  "window) and, apart, the clients' process (its own process.cpuUsage from its first emit to its last ack). Main-thread pauses " +
  "≥ 10 ms (GC, event-loop stalls) of both processes over the timed window. Afterwards the clients' process hangs up every leg " +
  `(rtc:hangup) and the gateway must report no WebRTC leg left. The limit, in this process on the same worker: ${LIMIT_JOINS} ` +
  "joins' raw mediasoup work at the same rate, without the gateway (createRouter with the offered Opus, createWebRtcTransport, " +
  "connect, the loopback PlainTransport (LoopbackRtp.open), produce the peer's audio and consume it on loopback, produce the mix " +
  `on loopback and consume it on the WebRtcTransport), each timed from createRouter to the last consume; p50 and p99. Target: p99 ≤ ${TARGET_P99_MS} ms.`;

interface Gateway {
  app: App;
  url: string;
  worker: ms.Worker;
  rtpPorts: { min: number; max: number };
  token(sub: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real gateway on 127.0.0.1 (port 0, fresh temp data dir) as `npm start` makes it (its own mediasoup
 * engine, one worker, the bridges on media threads), that worker kept for the limit.
 */
async function startGateway(): Promise<Gateway> {
  const workers: ms.Worker[] = [];
  const onWorker = (worker: ms.Worker): void => void workers.push(worker);
  let unobserve = (): void => undefined;
  try {
    const gw = await startBenchGateway(
      // 500 clients connect from this one address: above the per-address default of 100.
      { LEGWAY_SIP_ENABLED: 'false', LEGWAY_MAX_SOCKETS_PER_IP: '1000', LEGWAY_MEDIA_WORKERS: '1' },
      {
        logger: pino({ level: 'silent' }),
        beforeCreate: async (config) => {
          // mediasoup reads its worker's path once, when first loaded (as WorkerPool.start loads it), and
          // its observer is how this bench learns of the engine's worker, to time the limit on it.
          process.env.MEDIASOUP_WORKER_BIN = config.mediasoupWorker;
          const { observer } = await import('mediasoup');
          observer.on('newworker', onWorker);
          unobserve = () => observer.off('newworker', onWorker);
        },
      },
    );
    const worker = workers[0];
    if (!worker) {
      await gw.close();
      throw new Error('no mediasoup worker started');
    }
    return { app: gw.app, url: gw.url, worker, rtpPorts: gw.config.rtpPorts, token: (sub) => gw.token(sub), close: () => gw.close() };
  } finally {
    unobserve();
  }
}

/** The raw mediasoup work of one join, as MediasoupWebRtcEndpoint.create does it; returns the router to close. */
async function rawJoin(worker: ms.Worker, offerSdp: string, portRange: { min: number; max: number }): Promise<ms.Router> {
  const offer = readOffer(offerSdp);
  const { audio } = offer;
  const router = await worker.createRouter({ mediaCodecs: [{ kind: 'audio', ...OPUS, preferredPayloadType: audio.payloadType }] });
  const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1', portRange }], iceConsentTimeout: 30 });
  const { remoteFingerprint, peerDtlsRole } = offer.transport;
  await transport.connect({ dtlsParameters: { role: peerDtlsRole, fingerprints: [remoteFingerprint as ms.DtlsFingerprint] } });
  const loopback = await LoopbackRtp.open(router, portRange);
  router.observer.once('close', () => loopback.close());
  const rtpParameters = producerParameters(audio, { ...OPUS, parameters: audio.fmtp }, [], audioLevelExtensionOf(offer));
  const producer = await transport.produce({ kind: 'audio', rtpParameters });
  await loopback.transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
  const mix = await loopback.transport.produce({
    kind: 'audio',
    rtpParameters: { codecs: [{ ...OPUS, payloadType: audio.payloadType }], encodings: [{ ssrc: 1234 }] },
  });
  await transport.consume({ producerId: mix.id, rtpCapabilities: capabilitiesFor(router, 'audio'), mid: audio.mid });
  return router;
}

const row = (samples: number[]): string =>
  `p50 ${fixed(percentile(samples, 50), 1)} ms, p99 ${fixed(percentile(samples, 99), 1)} ms, max ${fixed(Math.max(...samples), 1)} ms`;

const pauses = (stalls: readonly Stall[]): string =>
  stalls.length === 0 ? 'none' : stalls.map((st) => `${fixed(st.ms, 1)} ms ${st.what} at ${fixed(st.at, 2)} s`).join(', ');

/** `rooms` conversations of ROOM_SIZE joined members, made through the services, each with a token for the clients' process. */
async function makeRooms(gw: Gateway, rooms: number, conversationPrefix: string, memberPrefix: string): Promise<ClientSpec[][]> {
  const made: ClientSpec[][] = [];
  for (let c = 0; c < rooms; c++) {
    const conversationId = gw.app.services.conversations.create({ name: `${conversationPrefix}-${String(c)}` }, APPLICATION).id;
    const room: ClientSpec[] = [];
    for (let m = 0; m < ROOM_SIZE; m++) {
      const name = `${memberPrefix}${String(c)}-${String(m)}`;
      gw.app.services.members.create(conversationId, { user: { name }, state: 'joined' }, APPLICATION);
      room.push({ name, token: await gw.token(name), conversationId });
    }
    made.push(room);
  }
  return made;
}

/** Waits up to 15 s for the gateway to hold no WebRTC leg; returns how many are left. */
async function legsLeft(gw: Gateway): Promise<number> {
  const deadline = Date.now() + 15_000;
  while (gw.app.legs.activeWebRtc > 0 && Date.now() < deadline) await sleep(50);
  return gw.app.legs.activeWebRtc;
}

export async function benchWebrtcJoin(): Promise<BenchResult> {
  const failures: string[] = [];
  const lines: string[] = [];
  const summary: SummaryRow[] = [];
  const clients = new ClientProcess();
  let gw: Gateway | undefined;
  try {
    const { sdps: offers } = await clients.ask({ kind: 'offer', timed: JOINS, warmUp: WARMUP_JOINS, batch: OFFER_BATCH }, 'offers', OFFERS_TIMEOUT_MS);
    gw = await startGateway();
    const rooms = await makeRooms(gw, JOINS / ROOM_SIZE, 'join', 'u');
    const warmUpRooms = await makeRooms(gw, WARMUP_JOINS / ROOM_SIZE, 'warm-up', 'w');
    await clients.ask({ kind: 'connect', url: gw.url, rooms, warmUpRooms }, 'connected', CONNECT_TIMEOUT_MS);
    await clients.ask({ kind: 'warmUp', ratePerS: RATE_PER_S }, 'warmedUp', WARMUP_TIMEOUT_MS);
    await legsLeft(gw);

    const worker0 = processCpuMs(gw.worker.pid);
    const close = startWindow();
    const monitor = new StallMonitor();
    monitor.start();
    const run = await clients.ask({ kind: 'run', ratePerS: RATE_PER_S }, 'ran', RUN_TIMEOUT_MS);
    const window = close();
    const { stalls } = monitor.stop();
    const workerMs = processCpuMs(gw.worker.pid) - worker0;
    const results = run.joins;
    const clientsMs = (run.cpu.userUs + run.cpu.systemUs) / 1000;

    if (results.length !== JOINS) failures.push(`the clients' process made ${String(results.length)} joins, not ${String(JOINS)}`);
    const answered = results.filter((r) => r.ok && r.answerOk);
    if (answered.length !== JOINS)
      failures.push(`${String(JOINS - answered.length)} of ${String(JOINS)} joins got no answer: ${String(results.find((r) => !(r.ok && r.answerOk))?.error)}`);
    const latencies = results.map((r) => r.ms);
    const p99 = percentile(latencies, 99);

    // Hang every leg up, and see the gateway let go of all of them.
    await clients.ask({ kind: 'hangUp' }, 'hungUp', HANGUP_TIMEOUT_MS);
    const left = await legsLeft(gw);
    if (left > 0) failures.push(`${String(left)} WebRTC legs still open 15 s after hangup`);

    // The limit: the raw mediasoup work of a join, on the same worker, at the same rate.
    const { worker, rtpPorts } = gw;
    const routers: ms.Router[] = [];
    const limit = await paced(LIMIT_JOINS, RATE_PER_S, async (i) => {
      const t0 = performance.now();
      routers.push(await rawJoin(worker, offers[i % offers.length]!, rtpPorts));
      return performance.now() - t0;
    });
    for (const router of routers) router.close();
    const limitP99 = percentile(limit, 99);

    summary.push({
      path: `WebRTC join at ${fixed(RATE_PER_S)}/s`,
      unit: 'ms p99',
      value: p99,
      limit: limitP99,
      limitIs: 'raw mediasoup work',
      target: TARGET_P99_MS,
      better: 'lower',
    });
    lines.push(
      ...table([
        [
          'Joins',
          `${fixed(JOINS)} at ${fixed(RATE_PER_S)}/s, ${fixed(answered.length)} answered, in ${fixed(JOINS / ROOM_SIZE)} conversations of ${fixed(ROOM_SIZE)}`,
        ],
        ['rtc:new → answer', row(latencies)],
        ['Target', `p99 ≤ ${fixed(TARGET_P99_MS)} ms: ${p99 <= TARGET_P99_MS ? 'met' : 'missed'}`],
        [
          'CPU',
          `${fixed(window.cpuUs / 1000, 1)} ms gateway process (user ${fixed(window.userUs / 1000, 1)} + system ${fixed(window.systemUs / 1000, 1)}) + ${fixed(workerMs)} ms mediasoup worker over ${fixed(window.wallMs, 1)} ms wall; ` +
            `clients' process ${fixed(clientsMs, 1)} ms (user ${fixed(run.cpu.userUs / 1000, 1)} + system ${fixed(run.cpu.systemUs / 1000, 1)}) over ${fixed(run.cpu.wallMs, 1)} ms wall`,
        ],
        [
          'CPU per join',
          `${fixed(window.cpuUs / 1000 / JOINS, 2)} ms gateway process + ${fixed(workerMs / JOINS, 2)} ms mediasoup worker; clients' process ${fixed(clientsMs / JOINS, 2)} ms`,
        ],
        [
          'Slowest joins',
          [...results]
            .sort((x, y) => y.ms - x.ms)
            .slice(0, 5)
            .map((r) => `${fixed(r.ms, 1)} ms at ${fixed(r.startedAt, 2)} s`)
            .join(', '),
        ],
        ['Main-thread pauses ≥ 10 ms', pauses(stalls)],
        ["Clients' pauses ≥ 10 ms", pauses(run.stalls)],
        ['Limit: raw mediasoup work', `${row(limit)} (${fixed(LIMIT_JOINS)} joins at ${fixed(RATE_PER_S)}/s, same worker)`],
        ['Measured / limit', `p50 ${fixed(percentile(latencies, 50) / percentile(limit, 50), 2)}×, p99 ${fixed(p99 / limitP99, 2)}×`],
      ]),
    );
  } finally {
    // Clients disconnect before the gateway closes, as browsers leaving would.
    const problem = await clients.stop();
    if (problem !== undefined) failures.push(problem);
    await gw?.close();
  }
  return { lines, failures, summary };
}
