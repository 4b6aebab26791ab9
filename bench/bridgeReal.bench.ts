/**
 * Benchmark 5c: the conference audio bridge on the real path. Real libwebrtc peers (@roamhq/wrtc)
 * in a child process join conversations of a real gateway in this process over socket.io, and
 * their audio goes through mediasoup (ICE, DTLS, SRTP), into Node, through the bridge, and back
 * out to them. The gateway's CPU is this process's; the load generator's is the child's, and the
 * mediasoup worker's is measured apart. The limit is measured in the same run: the same
 * conversations' bridges on fake endpoints that replay the packets the gateway received, i.e. the
 * same codec and mixing work with no crossing into or out of the media engine.
 *
 * The child is this file run with PEERS_FLAG (see the bottom of the file).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type * as Wrtc from '@roamhq/wrtc';
import type { types as ms } from 'mediasoup';
import { pino, type Logger } from 'pino';
import type { App } from '../src/app.js';
import { FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE } from '../src/media/audio/frame.js';
import { parseRtp, RtpPacketizer } from '../src/media/audio/rtp.js';
import { AudioBridge } from '../src/media/bridge/audioBridge.js';
import type { AudioEndpoint, AudioPacket, EndpointEvents, MediaEngine, WebRtcEndpoint } from '../src/media/engine.js';
import { LoopbackRtp } from '../src/media/mediasoup/loopbackRtp.js';
import type { MediasoupEngine } from '../src/media/mediasoup/mediasoupEngine.js';
import { WorkerPool } from '../src/media/mediasoup/workerPool.js';
import { toneLevel } from '../test/support/tone.js';
import { importBuilt } from './built.js';
import { APPLICATION, startBenchGateway } from './gateway.js';
import { fixed, processCpuMs, table, type BenchResult } from './stats.js';

const PEERS_FLAG = '--bench-real-peers';
/** Legs per conversation, and the leg counts measured (multiples of it). */
const ROOM_SIZE = 5;
const SIZES = [10, 20] as const;
/** After every peer hears audio, before measuring: jitter buffers fill, speaking settles. */
const SETTLE_MS = 2000;
/** Packets captured per leg for the limit to replay (2 s at most: the settle). */
const CAPTURE_PACKETS = 100;
/** Windows measured on the real path, and for the limit; the median counts (the machine is shared). */
const WINDOWS = 3;
const WINDOW_S = 4;
const LIMIT_WINDOW_S = 3;
/** The raw crossing: routers (a leg's worth of packets each), and the window per run. */
const RAW_LEGS = 30;
const RAW_WINDOW_S = 3;
const RAW_CYCLES = 3;
/** Tones of a conversation's legs, by position: whole cycles per 10 ms chunk, none a harmonic of another. */
export const TONES = [300, 500, 700, 1100, 1300] as const;
const AMPLITUDE = 4000;
/** Of the AMPLITUDE a peer sends: another leg is heard above AUDIBLE; its own tone above SILENT is a trace worth showing. */
const AUDIBLE = 800;
const SILENT = 300;
const CHUNK = 480;
/** Packets per leg per second crossing between Node and mediasoup: 50 in, 50 out. */
const PACKETS_PER_LEG_SECOND = 2 * (1000 / FRAME_MS);

export const bridgeRealMethod =
  `Legs ${SIZES.join(', ')} in conversations of ${ROOM_SIZE}, on a real gateway in this process (mediasoup, one worker, ` +
  'loopback). Each leg is a real libwebrtc peer (@roamhq/wrtc) in a child process that joins over socket.io (conversation:join, ' +
  `rtc:new) and sends a sine tone (${TONES.join(', ')} Hz by position, amplitude ${AMPLITUDE}) through ICE, DTLS and SRTP; the ` +
  "gateway's bridge mixes and sends each leg the others. Once every peer hears another leg, a settle of " +
  `${SETTLE_MS} ms (during which a listener of the bench copies up to ${CAPTURE_PACKETS} packets per leg as the endpoints emit them, ` +
  `then is removed), then ${WINDOWS} windows of ${WINDOW_S} s measure this process's CPU (process.cpuUsage, user + system, all threads: the ` +
  "gateway's side, including its crossings to and from mediasoup), the mediasoup worker's and the load generator's " +
  '(/proc/<pid>/stat). CPU per leg per second = gateway CPU / (legs × seconds), the median window shown with the ' +
  'range of the others. Then the limit, in the same run: the same conversations as AudioBridges on fake endpoints (no ' +
  "mediasoup) that replay each leg's captured packets in a loop (renumbered), one per leg every 20 ms from one timer, " +
  `${WINDOWS} windows of ${LIMIT_WINDOW_S} s: the same codec and mixing work on the same packets, with no crossing. The gap between the two, over the ` +
  `${PACKETS_PER_LEG_SECOND} packets a leg moves per second (50 in, 50 out), is what the real path adds per packet (crossings, ` +
  'network timing; a bridge that falls behind skips work, so on a busy machine the gap can go below zero); the raw crossing ' +
  'below measures the crossing alone. Checked: every peer ' +
  `received audio through the windows, and none heard its own tone as loud as another's (${AUDIBLE}, Goertzel, last 500 ms); ` +
  `at least half heard another leg above ${AUDIBLE} (those that did not, and traces of their own tone above ${SILENT}, are shown: ` +
  'late packets on a busy machine). ' +
  `Last, the raw crossing, measured apart on a worker of its own: ${RAW_LEGS} routers, each with a packet's ` +
  "round trip as a leg's audio makes it (out of Node into the router, and a consumer's copy back), in groups of " +
  `${ROOM_SIZE} whose 20 ms ticks are spread over the frame, one captured Opus packet per router per tick; through a ` +
  'DirectTransport (Producer.send(), consumer "rtp" events: the worker channel) and through LoopbackRtp (a PlainTransport on ' +
  `127.0.0.1 and a connected Node UDP socket), in ${RAW_CYCLES} cycles of a run that sends nothing, one through each, ` +
  `${RAW_WINDOW_S} s windows: Node CPU per round trip = (CPU per second − that of the cycle's run that sends nothing) / round trips ` +
  'per second, the median cycle shown. Each real-path row also shows the cores other processes used meanwhile (os.cpus()).';

/** One peer the child runs. */
export interface PeerSpec {
  name: string;
  token: string;
  conversationId: string;
  tone: number;
  others: number[];
}

export interface PeerReport {
  name: string;
  /** Mono samples received since the last mark. */
  samples: number;
  own: number;
  /** The loudest of the others' tones. */
  others: number;
}

type ToChild = { kind: 'start'; url: string; peers: PeerSpec[] } | { kind: 'mark' } | { kind: 'report' } | { kind: 'stop' };
type FromChild = { kind: 'ready' } | { kind: 'marked' } | { kind: 'report'; peers: PeerReport[] } | { kind: 'failed'; error: string };

/** The mediasoup workers that are children of this process. */
export function workerPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && comm.startsWith('mediasoup-work')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The load generator: a child process running the peers, driven over IPC (also used by the soak). */
export class PeerProcess {
  private readonly child: ChildProcess;
  private readonly inbox: FromChild[] = [];
  private waiter: (() => void) | undefined;
  private exited = false;
  private readonly exit: Promise<void>;

  constructor() {
    this.child = fork(fileURLToPath(import.meta.url), [PEERS_FLAG], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message) => {
      this.inbox.push(message as FromChild);
      this.waiter?.();
    });
    this.exit = new Promise((resolve) =>
      this.child.once('exit', () => {
        this.exited = true;
        this.waiter?.();
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Sends a command and waits for the child's next message (a `failed` one rejects). */
  async ask(command: ToChild, timeoutMs: number): Promise<FromChild> {
    this.child.send(command);
    const deadline = Date.now() + timeoutMs;
    while (this.inbox.length === 0) {
      if (this.exited) throw new Error('the peer process exited');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the peer process did not answer ${command.kind} within ${timeoutMs} ms`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.waiter = undefined;
    }
    const message = this.inbox.shift()!;
    if (message.kind === 'failed') throw new Error(`peer process: ${message.error}`);
    return message;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.send({ kind: 'stop' } satisfies ToChild);
    const exited = await Promise.race([this.exit.then(() => true), sleep(5000).then(() => false)]);
    if (!exited) this.child.kill('SIGKILL');
  }
}

/** One measurement window. */
interface Sample {
  wallMs: number;
  /** This process's CPU, user and system. */
  userUs: number;
  systemUs: number;
  /** CPU of the mediasoup workers and of the load generator (0 when there is none). */
  workerMs: number;
  generatorMs: number;
  /** Cores that other processes on the machine kept busy meanwhile (all CPU time minus this process's, the worker's and the generator's). */
  otherCores: number;
}

/** CPU time every process on the machine has used so far, in ms (os.cpus(), all cores). */
function machineBusyMs(): number {
  return cpus().reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0);
}

/** Measures `windows` windows of `seconds`, back to back. */
async function measure(windows: number, seconds: number, generatorPid = 0): Promise<Sample[]> {
  const workers = workerPids();
  const samples: Sample[] = [];
  for (let i = 0; i < windows; i++) {
    const worker0 = workers.reduce((sum, pid) => sum + processCpuMs(pid), 0);
    const generator0 = generatorPid === 0 ? 0 : processCpuMs(generatorPid);
    const busy0 = machineBusyMs();
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    await sleep(seconds * 1000);
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0;
    const workerMs = workers.reduce((sum, pid) => sum + processCpuMs(pid), 0) - worker0;
    const generatorMs = generatorPid === 0 ? 0 : processCpuMs(generatorPid) - generator0;
    const ours = (cpu.user + cpu.system) / 1000 + workerMs + generatorMs;
    samples.push({ wallMs, userUs: cpu.user, systemUs: cpu.system, workerMs, generatorMs, otherCores: Math.max(0, (machineBusyMs() - busy0 - ours) / wallMs) });
  }
  return samples;
}

/** CPU µs per leg per second of a window. */
const perLegSecond = (sample: Sample, legs: number): number => (sample.userUs + sample.systemUs) / (legs * (sample.wallMs / 1000));

/** The window with the median CPU per leg per second, and the lowest and highest figures. */
function median(samples: Sample[], legs: number): { sample: Sample; low: number; high: number } {
  const sorted = [...samples].sort((a, b) => perLegSecond(a, legs) - perLegSecond(b, legs));
  return { sample: sorted[Math.floor(sorted.length / 2)]!, low: perLegSecond(sorted[0]!, legs), high: perLegSecond(sorted[sorted.length - 1]!, legs) };
}

interface RealRun {
  samples: Sample[];
  /** Seconds the peers' reports cover. */
  seconds: number;
  reports: PeerReport[];
}

/** A leg's audio packets as the gateway received them, copied. */
interface Capture {
  conversationId: string;
  legId: string;
  packets: AudioPacket[];
}

/**
 * The mediasoup engine, unchanged, with a listener of its own on each endpoint's audio that copies
 * the packets the gateway receives while capturing is on, for the limit to replay. The listeners
 * are removed before anything is measured.
 */
class CapturingEngine implements MediaEngine {
  readonly captures: Capture[] = [];
  capturing = false;
  private readonly unsubscribes: (() => void)[] = [];

  constructor(private readonly inner: MediaEngine) {}

  async createWebRtcEndpoint(options: { conversationId: string; legId: string; offerSdp: string }): Promise<WebRtcEndpoint> {
    const endpoint = await this.inner.createWebRtcEndpoint(options);
    const capture: Capture = { conversationId: options.conversationId, legId: options.legId, packets: [] };
    this.captures.push(capture);
    this.unsubscribes.push(
      endpoint.on('audio', (packet) => {
        if (this.capturing && capture.packets.length < CAPTURE_PACKETS) capture.packets.push({ ...packet, payload: Buffer.from(packet.payload) });
      }),
    );
    return endpoint;
  }

  /** Stops capturing and removes the listeners. */
  detach(): void {
    this.capturing = false;
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Gateway {
  app: App;
  url: string;
  engine: CapturingEngine;
  /** The gateway's log lines at warn and above so far (pino JSON). */
  logged: string[];
  workerBin: string;
  rtpPorts: { min: number; max: number };
  token(sub: string): Promise<string>;
  close(): Promise<void>;
}

/** A real gateway on 127.0.0.1 (port 0, fresh temp data dir) on mediasoup with one worker, its engine wrapped for capture. */
async function startGateway(): Promise<Gateway> {
  // Warnings and errors are kept: a bridge that falls behind or a tick that throws shows in the results.
  const logged: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
  let engine: CapturingEngine | undefined;
  const gw = await startBenchGateway(
    { LEGWAY_SIP_ENABLED: 'false' },
    {
      logger,
      engine: async (config) => {
        // The engine of the build, as the gateway is (`built.ts`): the app and its engine share their classes.
        const built = await importBuilt<{ MediasoupEngine: typeof MediasoupEngine }>('src/media/mediasoup/mediasoupEngine.js');
        const mediasoup = await built.MediasoupEngine.start({
          workerBin: config.mediasoupWorker,
          workers: 1,
          listenIp: '127.0.0.1',
          announcedAddress: undefined,
          rtpPorts: config.rtpPorts,
          logger,
        });
        engine = new CapturingEngine(mediasoup);
        return engine;
      },
    },
  );
  if (!engine) throw new Error('the gateway made no media engine');
  return {
    app: gw.app,
    url: gw.url,
    engine,
    logged,
    workerBin: gw.config.mediasoupWorker,
    rtpPorts: gw.config.rtpPorts,
    token: (sub) => gw.token(sub),
    close: () => gw.close(),
  };
}

/** `legs` real peers in conversations of ROOM_SIZE; measured once every peer hears audio, after a capture of their packets. */
async function realRun(gw: Gateway, legs: number, round: number): Promise<RealRun> {
  const peers: PeerSpec[] = [];
  for (let room = 0; room < legs / ROOM_SIZE; room++) {
    const conversation = gw.app.services.conversations.create({ name: `real-${round}-${room}` }, APPLICATION);
    for (let i = 0; i < ROOM_SIZE; i++) {
      const name = `r${round}c${room}p${i}`;
      gw.app.services.members.create(conversation.id, { user: { name }, state: 'joined' }, APPLICATION);
      const tone = TONES[i]!;
      peers.push({ name, token: await gw.token(name), conversationId: conversation.id, tone, others: TONES.filter((t) => t !== tone) });
    }
  }
  const generator = new PeerProcess();
  try {
    gw.engine.captures.length = 0;
    await generator.ask({ kind: 'start', url: gw.url, peers }, 60_000 + legs * 2000);
    // The settle doubles as the capture of what the limit replays.
    gw.engine.capturing = true;
    await sleep(SETTLE_MS);
    gw.engine.detach();
    await generator.ask({ kind: 'mark' }, 5000);
    const start = performance.now();
    const samples = await measure(WINDOWS, WINDOW_S, generator.pid);
    const report = await generator.ask({ kind: 'report' }, 5000);
    return { samples, seconds: (performance.now() - start) / 1000, reports: report.kind === 'report' ? report.peers : [] };
  } finally {
    await generator.stop();
    // The peers' DTLS close alerts end their legs; wait for that so the next run starts clean.
    const deadline = Date.now() + 15_000;
    while (gw.app.legs.active > 0 && Date.now() < deadline) await sleep(50);
  }
}

/** A fake endpoint for the limit: replays a leg's captured packets (renumbered, in a loop), one per `feed()`, and drops what it is sent. */
class ReplayLeg implements AudioEndpoint {
  private listener: ((packet: AudioPacket) => void) | undefined;
  private next = 0;
  private sequenceNumber = 0;
  private timestamp = 0;
  sent = 0;

  constructor(
    readonly id: string,
    private readonly packets: readonly AudioPacket[],
  ) {}

  feed(): void {
    const packet = this.packets[this.next++ % this.packets.length]!;
    this.listener?.({ ...packet, sequenceNumber: this.sequenceNumber, timestamp: this.timestamp });
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.timestamp = (this.timestamp + FRAME_SAMPLES) >>> 0;
  }

  sendAudio(): void {
    this.sent++;
  }

  on<E extends keyof EndpointEvents>(event: E, listener: (...args: EndpointEvents[E]) => void): () => void {
    if (event !== 'audio') return () => undefined;
    const audio = listener as unknown as (packet: AudioPacket) => void;
    this.listener = audio;
    return () => {
      if (this.listener === audio) this.listener = undefined;
    };
  }
}

/** The limit: the captured conversations replayed on fake endpoints in real time; its windows, and frames sent per leg-tick. */
async function limitRun(captures: readonly Capture[], logger: Logger): Promise<{ samples: Sample[]; sentPerLegTick: number; legs: number }> {
  const byConversation = new Map<string, Capture[]>();
  for (const capture of captures) {
    if (capture.packets.length === 0) continue;
    byConversation.set(capture.conversationId, [...(byConversation.get(capture.conversationId) ?? []), capture]);
  }
  const rooms: { bridge: AudioBridge; legs: ReplayLeg[] }[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const start = performance.now();
    let fed = 0;
    const feed = (): void => {
      const due = Math.floor((performance.now() - start) / FRAME_MS) - fed;
      for (let k = 0; k < due; k++) for (const room of rooms) for (const leg of room.legs) leg.feed();
      fed += Math.max(0, due);
      timer = setTimeout(feed, Math.max(0, start + (fed + 1) * FRAME_MS - performance.now()));
    };
    timer = setTimeout(feed, FRAME_MS);
    const count = byConversation.size;
    let r = 0;
    for (const [conversationId, legCaptures] of byConversation) {
      // Conversations start spread over a frame, as on the real path.
      await sleep(Math.max(0, start + (r++ * FRAME_MS) / count - performance.now()));
      const bridge = new AudioBridge(`limit-${conversationId}`, () => undefined, logger);
      const roomLegs = legCaptures.map((capture) => new ReplayLeg(capture.legId, capture.packets));
      for (const leg of roomLegs) {
        bridge.add(leg.id, leg);
        leg.feed();
        leg.feed();
      }
      rooms.push({ bridge, legs: roomLegs });
    }
    await sleep(SETTLE_MS / 4);
    const legs = rooms.reduce((sum, room) => sum + room.legs.length, 0);
    const legTicks = (): number => rooms.reduce((sum, room) => sum + room.bridge.stats.ticks * room.legs.length, 0);
    const sent = (): number => rooms.reduce((sum, room) => sum + room.legs.reduce((s, leg) => s + leg.sent, 0), 0);
    const legTicks0 = legTicks();
    const sent0 = sent();
    const samples = await measure(WINDOWS, LIMIT_WINDOW_S);
    return { samples, sentPerLegTick: (sent() - sent0) / Math.max(1, legTicks() - legTicks0), legs };
  } finally {
    clearTimeout(timer);
    for (const room of rooms) {
      for (const leg of room.legs) room.bridge.remove(leg.id);
      room.bridge.stop();
    }
    await sleep(50);
  }
}

/** A packet's round trip between Node and a router, as a leg's audio makes it: out of Node into mediasoup, and back. */
interface RawPath {
  send(packet: Buffer): void;
  /** RTP packets back in Node so far. */
  received: number;
}

const RAW_CODEC = { mimeType: 'audio/opus', clockRate: 48000, channels: 2 } as const;
const RAW_PAYLOAD_TYPE = 111;

/** One router's round trip through a DirectTransport: Producer.send() out, the consumer's 'rtp' event back. */
async function directPath(router: ms.Router, ssrc: number): Promise<RawPath> {
  const transport = await router.createDirectTransport();
  const producer = await transport.produce({
    kind: 'audio',
    rtpParameters: { codecs: [{ ...RAW_CODEC, payloadType: RAW_PAYLOAD_TYPE }], encodings: [{ ssrc }] },
  });
  const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
  const path: RawPath = { send: (packet) => producer.send(packet), received: 0 };
  consumer.on('rtp', (packet) => {
    if (parseRtp(packet)) path.received++;
  });
  return path;
}

/** One router's round trip through the endpoints' LoopbackRtp: a datagram out to the PlainTransport, one back. */
async function loopbackPath(router: ms.Router, ssrc: number, portRange: { min: number; max: number }): Promise<RawPath> {
  const loopback = await LoopbackRtp.open(router, portRange);
  const producer = await loopback.transport.produce({
    kind: 'audio',
    rtpParameters: { codecs: [{ ...RAW_CODEC, payloadType: RAW_PAYLOAD_TYPE }], encodings: [{ ssrc }] },
  });
  await loopback.transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
  const path: RawPath = { send: (packet) => loopback.send(packet), received: 0 };
  loopback.onPacket((packet) => {
    if (parseRtp(packet)?.payloadType === RAW_PAYLOAD_TYPE) path.received++;
  });
  return path;
}

type RawMode = 'no crossing' | 'DirectTransport' | 'LoopbackRtp';

interface RawRun {
  mode: RawMode;
  sample: Sample;
  sent: number;
  received: number;
}

/**
 * RAW_LEGS routers on one worker, each with a round trip of `mode`, in groups of ROOM_SIZE whose
 * 20 ms ticks are spread over the frame as conversations' are; each tick sends one packet per
 * router of its group. 'no crossing' runs the same timers and packetizers and sends nothing.
 */
async function rawRun(pool: WorkerPool, mode: RawMode, payload: Buffer, portRange: { min: number; max: number }): Promise<RawRun> {
  const routers: ms.Router[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const paths: RawPath[] = [];
    for (let i = 0; i < RAW_LEGS; i++) {
      const router = await pool.createRouter(`raw-${mode}`, [{ kind: 'audio', ...RAW_CODEC, preferredPayloadType: RAW_PAYLOAD_TYPE }]);
      routers.push(router);
      const ssrc = 0x1000 + i;
      if (mode === 'DirectTransport') paths.push(await directPath(router, ssrc));
      else if (mode === 'LoopbackRtp') paths.push(await loopbackPath(router, ssrc, portRange));
      else paths.push({ send: () => undefined, received: 0 });
    }
    const packetizers = paths.map((_, i) => new RtpPacketizer(RAW_PAYLOAD_TYPE, 0x1000 + i));
    let sent = 0;
    let counting = false;
    const groups = RAW_LEGS / ROOM_SIZE;
    const start = performance.now();
    for (let g = 0; g < groups; g++) {
      const offset = (g * FRAME_MS) / groups;
      let ticks = 0;
      const tick = (): void => {
        for (let i = g * ROOM_SIZE; i < (g + 1) * ROOM_SIZE; i++) paths[i]!.send(packetizers[i]!.packet(payload));
        if (counting) sent += ROOM_SIZE;
        ticks++;
        timers[g] = setTimeout(tick, Math.max(0, start + offset + ticks * FRAME_MS - performance.now()));
      };
      timers[g] = setTimeout(tick, offset);
    }
    await sleep(300);
    const received0 = paths.reduce((sum, p) => sum + p.received, 0);
    counting = true;
    const [sample] = await measure(1, RAW_WINDOW_S);
    counting = false;
    // The last packets' way back.
    await sleep(50);
    return { mode, sample: sample!, sent, received: paths.reduce((sum, p) => sum + p.received, 0) - received0 };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const router of routers) router.close();
    pool.release(`raw-${mode}`);
    await sleep(50);
  }
}

/** The raw crossing, measured apart: each mode twice, interleaved; CPU per packet round trip above the no-crossing run. */
async function rawCrossing(
  payload: Buffer,
  workerBin: string,
  portRange: { min: number; max: number },
): Promise<{ rows: [string, string][]; failures: string[] }> {
  const rows: [string, string][] = [];
  const failures: string[] = [];
  const pool = await WorkerPool.start({
    workerBin,
    size: 1,
    logger: pino({ level: 'silent' }),
    onWorkerDied: () => undefined,
  });
  try {
    // Cycles of the three modes, so that each crossing's run is compared with a no-crossing run made just before it.
    const cycles: Record<RawMode, RawRun>[] = [];
    for (let c = 0; c < RAW_CYCLES; c++) {
      const none = await rawRun(pool, 'no crossing', payload, portRange);
      const direct = await rawRun(pool, 'DirectTransport', payload, portRange);
      const loopback = await rawRun(pool, 'LoopbackRtp', payload, portRange);
      cycles.push({ 'no crossing': none, DirectTransport: direct, LoopbackRtp: loopback });
    }
    const nodeUsPerSecond = (r: RawRun): number => (r.sample.userUs + r.sample.systemUs) / (r.sample.wallMs / 1000);
    const middle = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    for (const mode of ['DirectTransport', 'LoopbackRtp'] as const) {
      const perTrip = cycles.map(
        (cycle) => (nodeUsPerSecond(cycle[mode]) - nodeUsPerSecond(cycle['no crossing'])) / (cycle[mode].sent / (cycle[mode].sample.wallMs / 1000)),
      );
      const workerPerTrip = cycles.map((cycle) => (cycle[mode].sample.workerMs * 1000) / cycle[mode].sent);
      rows.push([
        `  ${mode}`,
        `${fixed(middle(perTrip), 1)} µs Node CPU per round trip (median; cycles ${perTrip.map((v) => fixed(v, 1)).join(', ')}) = ` +
          `${fixed((middle(perTrip) * (PACKETS_PER_LEG_SECOND / 2)) / 1000, 2)} ms per leg per second; mediasoup worker ${fixed(middle(workerPerTrip), 1)} µs per round trip`,
      ]);
      for (const cycle of cycles) {
        const r = cycle[mode];
        if (r.received < r.sent * 0.95) failures.push(`raw crossing, ${mode}: ${r.received} of ${r.sent} packets came back`);
      }
    }
  } finally {
    await pool.close();
  }
  return { rows, failures };
}

/** Benchmark 5c: gateway CPU per leg on the real path, against the no-crossing limit. */
export async function benchBridgeReal(): Promise<BenchResult> {
  const rows: [string, string][] = [];
  const failures: string[] = [];
  const logger = pino({ level: 'silent' });
  const gw = await startGateway();
  try {
    let round = 0;
    for (const legs of SIZES) {
      gw.logged.length = 0;
      const real = await realRun(gw, legs, round++);
      const log = gw.logged.splice(0).map((line) => JSON.parse(line) as { level: number; msg?: string });
      const limit = await limitRun(gw.engine.captures, logger);
      const { sample: w, low, high } = median(real.samples, legs);
      const ours = perLegSecond(w, legs);
      const bound = median(limit.samples, legs);
      const ceiling = perLegSecond(bound.sample, legs);
      const gapUs = ours - ceiling;
      const total = (pick: (s: Sample) => number): number => real.samples.reduce((sum, s) => sum + pick(s), 0);
      const wallMs = total((s) => s.wallMs);
      const ms = (us: number): string => fixed(us / 1000, 2);
      rows.push(
        [
          `${legs} legs, real path`,
          `${ms(ours)} ms gateway CPU per leg per second (windows ${ms(low)}–${ms(high)}; ${fixed(ours / 1e4, 2)}% of a core, ` +
            `${fixed(1e6 / ours, 0)} legs per core at this rate); median window: ${fixed((w.userUs + w.systemUs) / 1000 / w.wallMs, 2)} cores ` +
            `(user ${fixed(w.userUs / 1000, 0)} + system ${fixed(w.systemUs / 1000, 0)} ms over ${fixed(w.wallMs, 0)} ms), other processes ` +
            `${fixed(w.otherCores, 2)} cores`,
        ],
        [
          `  elsewhere`,
          `mediasoup worker ${fixed(total((s) => s.workerMs) / (legs * (wallMs / 1000)), 2)} ms per leg per second ` +
            `(${fixed(total((s) => s.workerMs) / wallMs, 2)} cores); load generator (libwebrtc peers) ${fixed(total((s) => s.generatorMs) / wallMs, 2)} cores`,
        ],
        [
          `  limit (no crossing)`,
          `${ms(ceiling)} ms per leg per second for the same bridges on fake endpoints (windows ${ms(bound.low)}–${ms(bound.high)}); ` +
            `real / limit = ${fixed(ours / ceiling, 2)}×; gap ${ms(gapUs)} ms per leg per second = ${fixed(gapUs / PACKETS_PER_LEG_SECOND, 1)} µs per packet crossing`,
        ],
      );
      const seconds = real.seconds;
      if (limit.legs !== legs) failures.push(`${legs} legs: packets were captured from ${limit.legs} legs only`);
      if (limit.sentPerLegTick < 0.8) failures.push(`${legs} legs: the limit's bridges sent ${fixed(limit.sentPerLegTick, 2)} frames per leg-tick`);
      const expected = Math.floor(SAMPLE_RATE * seconds * 0.9);
      const hearing = real.reports.filter((peer) => peer.others >= AUDIBLE).length;
      if (hearing < real.reports.length / 2) failures.push(`${legs} legs: only ${hearing} of ${real.reports.length} peers heard another leg`);
      for (const peer of real.reports) {
        if (peer.samples < expected)
          failures.push(`${legs} legs: ${peer.name} received ${fixed(peer.samples / SAMPLE_RATE, 1)} s of audio in ${fixed(seconds, 1)} s`);
        // Its own tone as loud as another leg's is an echo; a trace of it is concealment noise (a late packet on a busy machine).
        if (peer.own >= AUDIBLE) failures.push(`${legs} legs: ${peer.name} heard itself (level ${fixed(peer.own, 0)})`);
      }
      if (real.reports.length !== legs) failures.push(`${legs} legs: ${real.reports.length} peers reported`);
      for (const entry of log.filter((e) => e.level >= 50).slice(0, 3)) failures.push(`${legs} legs: the gateway logged an error: ${entry.msg ?? '?'}`);
      const warnings = new Map<string, number>();
      for (const entry of log.filter((e) => e.level < 50)) warnings.set(entry.msg ?? '?', (warnings.get(entry.msg ?? '?') ?? 0) + 1);
      if (warnings.size > 0) rows.push([`  warnings logged`, [...warnings].map(([msg, n]) => `${msg} (${n}×)`).join('; ')]);
      const loudest = Math.max(...real.reports.map((p) => p.own));
      const traces = real.reports.filter((p) => p.own >= SILENT).length;
      const others = fixed(Math.max(...real.samples.map((sample) => sample.otherCores)), 2);
      rows.push([
        `  audio`,
        `${hearing} of ${real.reports.length} peers heard another leg above ${AUDIBLE} in their last 500 ms; own tone at most ${fixed(loudest, 0)}` +
          (hearing < real.reports.length || traces > 0
            ? ` (${real.reports.length - hearing} fell short, ${traces} with a trace of their own tone above ${SILENT}: late packets, other processes up to ${others} cores)`
            : ''),
      ]);
    }
    // A packet as the peers sent it, for the raw crossing.
    const payload = gw.engine.captures.flatMap((c) => c.packets).find((p) => p.payload.length > 20)?.payload;
    if (payload === undefined) failures.push('raw crossing: no packet was captured to send');
    else {
      const raw = await rawCrossing(payload, gw.workerBin, gw.rtpPorts);
      rows.push([`Raw crossing, ${RAW_LEGS} legs' packets`, `(no codecs, no peers; ${fixed(payload.length)}-byte Opus payloads)`], ...raw.rows);
      failures.push(...raw.failures);
    }
  } finally {
    await gw.close();
  }
  return { lines: table(rows), failures };
}

// ---- The load generator (child process) ------------------------------------------------------

interface Peer {
  spec: PeerSpec;
  close(): void;
  pump(chunk: Int16Array): void;
  samples: number;
  /** The last 500 ms received (mono), as a ring. */
  ring: Int16Array;
  at: number;
}

async function runPeers(): Promise<void> {
  // A CommonJS module whose exports Node cannot list statically: everything is on its default export.
  const wrtc = ((await import('@roamhq/wrtc')) as unknown as { default: typeof Wrtc }).default;
  const { io } = await import('socket.io-client');
  const { RTCPeerConnection, nonstandard } = wrtc;
  const peers: Peer[] = [];
  const chunks = new Map<number, Int16Array>();
  for (const hz of TONES) {
    const chunk = new Int16Array(CHUNK);
    for (let i = 0; i < CHUNK; i++) chunk[i] = Math.round(AMPLITUDE * Math.sin((2 * Math.PI * hz * i) / SAMPLE_RATE));
    chunks.set(hz, chunk);
  }
  const send = (message: FromChild): void => void process.send?.(message);
  let pumper: NodeJS.Timeout | undefined;

  const startPeer = async (url: string, spec: PeerSpec): Promise<Peer> => {
    const socket = io(url, { auth: { token: spec.token }, transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    const ask = (name: string, payload: unknown): Promise<any> => socket.timeout(10_000).emitWithAck(name, payload);
    const joined = await ask('conversation:join', { conversation_id: spec.conversationId, since: 0 });
    if (!joined.ok) throw new Error(`${spec.name}: conversation:join ${JSON.stringify(joined)}`);
    const pc = new RTCPeerConnection();
    const source = new nonstandard.RTCAudioSource();
    pc.addTrack(source.createTrack());
    const sinks: { stop(): void }[] = [];
    const peer: Peer = {
      spec,
      samples: 0,
      ring: new Int16Array(SAMPLE_RATE / 2),
      at: 0,
      pump: (chunk) => source.onData({ samples: chunk, sampleRate: SAMPLE_RATE, bitsPerSample: 16, channelCount: 1, numberOfFrames: CHUNK }),
      close: () => {
        for (const sink of sinks) sink.stop();
        pc.close();
        socket.disconnect();
      },
    };
    pc.ontrack = (e: { track: unknown }) => {
      const sink = new nonstandard.RTCAudioSink(e.track as Wrtc.MediaStreamTrack) as unknown as { ondata: unknown; stop(): void };
      sink.ondata = (d: { samples: Int16Array; channelCount: number }) => {
        for (let i = 0; i < d.samples.length; i += d.channelCount) {
          peer.ring[peer.at] = d.samples[i]!;
          peer.at = (peer.at + 1) % peer.ring.length;
          peer.samples++;
        }
      };
      sinks.push(sink);
    };
    await pc.setLocalDescription(await pc.createOffer());
    while (pc.iceGatheringState !== 'complete') await sleep(10);
    const ack = await ask('rtc:new', { conversation_id: spec.conversationId, offer: { type: 'offer', sdp: pc.localDescription!.sdp } });
    if (!ack.ok) throw new Error(`${spec.name}: rtc:new ${JSON.stringify(ack)}`);
    await pc.setRemoteDescription(ack.answer);
    return peer;
  };

  const levels = (peer: Peer): PeerReport => {
    const ordered = new Int16Array(peer.ring.length);
    ordered.set(peer.ring.subarray(peer.at));
    ordered.set(peer.ring.subarray(0, peer.at), peer.ring.length - peer.at);
    return {
      name: peer.spec.name,
      samples: peer.samples,
      own: toneLevel(ordered, peer.spec.tone),
      others: Math.max(...peer.spec.others.map((hz) => toneLevel(ordered, hz))),
    };
  };

  const handle = async (command: ToChild): Promise<void> => {
    switch (command.kind) {
      case 'start': {
        // One drift-free 10 ms clock feeds every peer's microphone, as RTCAudioSource expects.
        const start = performance.now();
        let pumped = 0;
        const pump = (): void => {
          const due = Math.floor((performance.now() - start) / 10) - pumped;
          for (let k = 0; k < Math.min(due, 5); k++) for (const peer of peers) peer.pump(chunks.get(peer.spec.tone)!);
          pumped += Math.max(0, due);
          pumper = setTimeout(pump, Math.max(0, start + (pumped + 1) * 10 - performance.now()));
        };
        pump();
        for (const spec of command.peers) peers.push(await startPeer(command.url, spec));
        // Ready once every peer hears another leg.
        const deadline = Date.now() + 30_000;
        while (!peers.every((peer) => levels(peer).others > AUDIBLE)) {
          if (Date.now() > deadline) throw new Error(`not every peer hears another leg: ${JSON.stringify(peers.map(levels))}`);
          await sleep(100);
        }
        send({ kind: 'ready' });
        return;
      }
      case 'mark':
        for (const peer of peers) peer.samples = 0;
        send({ kind: 'marked' });
        return;
      case 'report':
        send({ kind: 'report', peers: peers.map(levels) });
        return;
      case 'stop':
        clearTimeout(pumper);
        for (const peer of peers) peer.close();
        // Let the DTLS close alerts leave before exiting.
        await sleep(200);
        process.exit(0);
    }
  };

  process.on('message', (message) => {
    handle(message as ToChild).catch((err: unknown) => send({ kind: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
  });
  // The bench process went away: so do the peers.
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[2] === PEERS_FLAG) await runPeers();
