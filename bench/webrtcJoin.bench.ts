/**
 * Benchmark 9: WebRTC join latency, `rtc:new` → the ack with the SDP answer, on a real gateway in
 * this process with media (mediasoup, one worker), at a steady rate of joins. The limit, measured in
 * the same run on the same worker: the raw mediasoup work one join needs, as
 * src/media/mediasoup/webRtcEndpoint.ts does it, with no gateway around it.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import wrtc from '@roamhq/wrtc';
import type { types as ms } from 'mediasoup';
import { pino } from 'pino';
import { io as connectClient, type Socket } from 'socket.io-client';
import type { App } from '../src/app.js';
import { LoopbackRtp } from '../src/media/mediasoup/loopbackRtp.js';
import { readOffer } from '../src/media/mediasoup/offer.js';
import { audioLevelExtensionOf, capabilitiesFor, OPUS, producerParameters } from '../src/media/mediasoup/rtpParameters.js';
import { APPLICATION, startBenchGateway } from './gateway.js';
import { StallMonitor } from './stalls.js';
import { fixed, percentile, processCpuMs, startWindow, table, type BenchResult } from './stats.js';
import type { SummaryRow } from './summary.js';

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

export const webrtcJoinMethod =
  'A real gateway in this process as `npm start` makes it (its own mediasoup engine with one worker, the audio bridges on media threads; 127.0.0.1). ' +
  `Before timing: ${JOINS} real offers, each from ` +
  'its own @roamhq/wrtc RTCPeerConnection with one sendrecv audio transceiver (createOffer, setLocalDescription, ICE gathering ' +
  `complete; the connection is then closed: only the answer is timed), and ${JOINS} members in ${JOINS / ROOM_SIZE} conversations of ` +
  `${ROOM_SIZE}, each with its own socket.io client (websocket) that has sent conversation:join. A warm-up of ${WARMUP_JOINS} joins ` +
  'in conversations of their own, hung up again, so that the first router and the code compiled on first use are not timed. Then one rtc:new every ' +
  `${1000 / RATE_PER_S} ms (${RATE_PER_S}/s for ${DURATION_S} s, conversations in turn), each timed from emit to its ack, which must carry ` +
  'an SDP answer; p50, p99 and max, and the CPU of this process (gateway and clients, process.cpuUsage) and of the mediasoup worker ' +
  '(/proc/<pid>/stat) per join, over the window from the first emit to the last ack. Afterwards every leg is hung up (rtc:hangup) and ' +
  `the gateway must report no WebRTC leg left. The limit, in the same run on the same worker: ${LIMIT_JOINS} joins' raw mediasoup work ` +
  `at the same rate, without the gateway (createRouter with the offered Opus, createWebRtcTransport, connect, the loopback PlainTransport ` +
  "(LoopbackRtp.open), produce the peer's audio and consume it on loopback, produce the mix on loopback and consume it on the " +
  `WebRtcTransport), each timed from createRouter to the last consume; p50 and p99. Target: p99 ≤ ${TARGET_P99_MS} ms.`;

/** One real libwebrtc offer (audio, sendrecv), its candidates gathered. */
async function makeOffer(): Promise<string> {
  const pc = new wrtc.RTCPeerConnection();
  try {
    pc.addTransceiver('audio', { direction: 'sendrecv' });
    await pc.setLocalDescription(await pc.createOffer());
    const deadline = Date.now() + 5000;
    while (pc.iceGatheringState !== 'complete' && Date.now() < deadline) await sleep(10);
    const sdp = pc.localDescription?.sdp;
    if (sdp === undefined) throw new Error('peer connection made no offer');
    return sdp;
  } finally {
    pc.close();
  }
}

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

interface Member {
  socket: Socket;
  conversationId: string;
}

async function connectMember(gw: Gateway, conversationId: string, name: string): Promise<Member> {
  gw.app.services.members.create(conversationId, { user: { name }, state: 'joined' }, APPLICATION);
  const socket = connectClient(gw.url, { auth: { token: await gw.token(name) }, transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const ack = (await socket.timeout(5000).emitWithAck('conversation:join', { conversation_id: conversationId })) as { ok: boolean; error?: unknown };
  if (!ack.ok) throw new Error(`${name} could not join: ${JSON.stringify(ack.error)}`);
  return { socket, conversationId };
}

/** WARMUP_JOINS joins into conversations of their own, at the timed rate, then hung up; resolves once the gateway holds no leg. */
async function warmUp(gw: Gateway, offers: readonly string[]): Promise<void> {
  const members: Member[] = [];
  for (let c = 0; c < WARMUP_JOINS / ROOM_SIZE; c++) {
    const conversationId = gw.app.services.conversations.create({ name: `warm-up-${String(c)}` }, APPLICATION).id;
    members.push(...(await Promise.all(Array.from({ length: ROOM_SIZE }, (_, m) => connectMember(gw, conversationId, `w${String(c)}-${String(m)}`)))));
  }
  try {
    const acks = await paced(WARMUP_JOINS, async (i) => {
      const member = members[i]!;
      const ack = (await member.socket
        .timeout(30_000)
        .emitWithAck('rtc:new', { conversation_id: member.conversationId, offer: { type: 'offer', sdp: offers[i]! } })) as RtcAck;
      return { member, ack };
    });
    await Promise.all(
      acks.flatMap(({ member, ack }) => (ack.leg_id === undefined ? [] : [member.socket.timeout(10_000).emitWithAck('rtc:hangup', { leg_id: ack.leg_id })])),
    );
    const deadline = Date.now() + 15_000;
    while (gw.app.legs.activeWebRtc > 0 && Date.now() < deadline) await sleep(50);
  } finally {
    for (const member of members) member.socket.disconnect();
  }
}

interface RtcAck {
  ok: boolean;
  leg_id?: string;
  answer?: { type: string; sdp: string };
  error?: unknown;
}

/** Runs `job(i)` for i < count, one every 1000 / RATE_PER_S ms from now (drift-free), and waits for all of them. */
async function paced<T>(count: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const start = performance.now();
  const running: Promise<T>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / RATE_PER_S - performance.now();
    if (wait > 0) await sleep(wait);
    running.push(job(i));
  }
  return Promise.all(running);
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

export async function benchWebrtcJoin(): Promise<BenchResult> {
  const failures: string[] = [];
  const lines: string[] = [];
  const summary: SummaryRow[] = [];
  const offers: string[] = [];
  const offerCount = JOINS + WARMUP_JOINS;
  for (let i = 0; i < offerCount; i += OFFER_BATCH)
    offers.push(...(await Promise.all(Array.from({ length: Math.min(OFFER_BATCH, offerCount - i) }, makeOffer))));

  const gw = await startGateway();
  const members: Member[] = [];
  try {
    for (let c = 0; c < JOINS / ROOM_SIZE; c++) {
      const conversationId = gw.app.services.conversations.create({ name: `join-${String(c)}` }, APPLICATION).id;
      const room = await Promise.all(Array.from({ length: ROOM_SIZE }, (_, m) => connectMember(gw, conversationId, `u${String(c)}-${String(m)}`)));
      members.push(...room);
    }
    // Conversations in turn: a conversation's members join a tenth of a second apart, as a room fills.
    const order = Array.from({ length: JOINS }, (_, i) => members[(i % (JOINS / ROOM_SIZE)) * ROOM_SIZE + Math.floor(i / (JOINS / ROOM_SIZE))]!);

    await warmUp(gw, offers.slice(JOINS));

    const worker0 = processCpuMs(gw.worker.pid);
    const close = startWindow();
    const monitor = new StallMonitor();
    monitor.start();
    const runStart = performance.now();
    const results = await paced(JOINS, async (i) => {
      const member = order[i]!;
      const t0 = performance.now();
      const startedAt = (t0 - runStart) / 1000;
      const ack = (await member.socket
        .timeout(30_000)
        .emitWithAck('rtc:new', { conversation_id: member.conversationId, offer: { type: 'offer', sdp: offers[i]! } })) as RtcAck;
      return { ms: performance.now() - t0, ack, startedAt };
    });
    const window = close();
    const { stalls } = monitor.stop();
    const workerMs = processCpuMs(gw.worker.pid) - worker0;

    const answered = results.filter((r) => r.ack.ok && r.ack.answer?.type === 'answer' && r.ack.answer.sdp.includes('a=fingerprint:'));
    if (answered.length !== JOINS)
      failures.push(`${String(JOINS - answered.length)} of ${String(JOINS)} joins got no answer: ${JSON.stringify(results.find((r) => !r.ack.ok)?.ack.error)}`);
    const latencies = results.map((r) => r.ms);
    const p99 = percentile(latencies, 99);

    // Hang every leg up, and see the gateway let go of all of them.
    const hangups = results.flatMap((r, i) =>
      r.ack.leg_id === undefined ? [] : [order[i]!.socket.timeout(10_000).emitWithAck('rtc:hangup', { leg_id: r.ack.leg_id })],
    );
    await Promise.all(hangups);
    const deadline = Date.now() + 15_000;
    while (gw.app.legs.activeWebRtc > 0 && Date.now() < deadline) await sleep(50);
    if (gw.app.legs.activeWebRtc > 0) failures.push(`${String(gw.app.legs.activeWebRtc)} WebRTC legs still open 15 s after hangup`);

    // The limit: the raw mediasoup work of a join, on the same worker, at the same rate.
    const routers: ms.Router[] = [];
    const limit = await paced(LIMIT_JOINS, async (i) => {
      const t0 = performance.now();
      routers.push(await rawJoin(gw.worker, offers[i % offers.length]!, gw.rtpPorts));
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
          `${fixed(window.cpuUs / 1000, 1)} ms this process (user ${fixed(window.userUs / 1000, 1)} + system ${fixed(window.systemUs / 1000, 1)}) + ${fixed(workerMs)} ms mediasoup worker over ${fixed(window.wallMs, 1)} ms wall`,
        ],
        [
          'CPU per join',
          `${fixed(window.cpuUs / 1000 / JOINS, 2)} ms this process (gateway and its socket.io clients) + ${fixed(workerMs / JOINS, 2)} ms mediasoup worker`,
        ],
        [
          'Slowest joins',
          [...results]
            .sort((x, y) => y.ms - x.ms)
            .slice(0, 5)
            .map((r) => `${fixed(r.ms, 1)} ms at ${fixed(r.startedAt, 2)} s`)
            .join(', '),
        ],
        [
          'Main-thread pauses ≥ 10 ms',
          stalls.length === 0 ? 'none' : stalls.map((st) => `${fixed(st.ms, 1)} ms ${st.what} at ${fixed(st.at, 2)} s`).join(', '),
        ],
        ['Limit: raw mediasoup work', `${row(limit)} (${fixed(LIMIT_JOINS)} joins at ${fixed(RATE_PER_S)}/s, same worker)`],
        ['Measured / limit', `p50 ${fixed(percentile(latencies, 50) / percentile(limit, 50), 2)}×, p99 ${fixed(p99 / limitP99, 2)}×`],
      ]),
    );
  } finally {
    for (const member of members) member.socket.disconnect();
    await gw.close();
  }
  return { lines, failures, summary };
}
