/**
 * Benchmarks 5a and 5b: the conference audio bridge (src/media/bridge/) doing its real per-frame
 * work: jitter buffer, decoding only the legs it mixes (the RFC 6464 level tells it who speaks),
 * speaker selection, mix, one encode per mixed speaker and one shared encode per codec for everyone
 * else, and two-party forwarding. Only the transport is fake: endpoints that hand the bridge one
 * pre-encoded frame per 20 ms and count what it sends back, standing in for mediasoup and for the
 * SIP leg's UDP sockets.
 */
import { cpus } from 'node:os';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { createOpusCodec } from '../src/media/audio/opusCodec.js';
import { FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE } from '../src/media/audio/frame.js';
import { FrameEncoder } from '../src/media/audio/opusEncoder.js';
import type { RtpPacket } from '../src/media/audio/rtp.js';
import { frameDbfs } from '../src/media/audio/speakingDetector.js';
import { AudioBridge } from '../src/media/bridge/audioBridge.js';
import type { AudioPacket, EndpointEvents, WebRtcEndpoint } from '../src/media/engine.js';
import { AudioSendStream } from '../src/media/rtp/audioSendStream.js';
import { decodeG711, encodeG711 } from '../src/media/rtp/g711.js';
import { Downsampler, Upsampler } from '../src/media/rtp/resampler.js';
import type { RtpCodecConfig, RtpEndpoint, RtpEndpointEvents } from '../src/media/rtp/rtpEndpoint.js';
import { RtpLegAudio } from '../src/media/rtp/rtpLegAudio.js';
import { fixed, percentile, startWindow, table, type BenchResult, type Window } from './stats.js';
import type { SummaryRow } from './summary.js';

/** A conference shape: legs per conversation, how many of them speak, their codec, and whether their RTP carries the RFC 6464 level. */
interface Shape {
  label: string;
  size: number;
  speakers: number;
  codec: 'opus' | 'PCMU';
  audioLevel: boolean;
  /** Which raw codec cost this shape is set beside. */
  limit: 'opus' | 'g711';
  /** Legs per core this shape should reach on this project's 2-core machine (none: shown for comparison). */
  target?: number;
}

/** 5a: the target shapes, and Opus conferences as WebRTC legs are until the endpoint reads the level extension. */
const SHAPES: readonly Shape[] = [
  { label: 'Opus, conferences of 10, 2 speaking', size: 10, speakers: 2, codec: 'opus', audioLevel: true, limit: 'opus', target: 600 },
  { label: 'G.711 (PCMU), conferences of 10, 2 speaking', size: 10, speakers: 2, codec: 'PCMU', audioLevel: false, limit: 'g711', target: 1500 },
  { label: 'Opus, two-party calls, both speaking', size: 2, speakers: 2, codec: 'opus', audioLevel: true, limit: 'opus', target: 300 },
  { label: 'Opus without RFC 6464 level, conferences of 10, 2 speaking', size: 10, speakers: 2, codec: 'opus', audioLevel: false, limit: 'opus' },
];
/** 5a: conversations driven together per shape (so that codec state does not all sit in cache), and frames per run. */
const MIX_ROOMS = 4;
const MIX_TICKS = 1000;
const MIX_WARMUP_TICKS = 50;
const LIMIT_FRAMES = 2000;

/** 5b: the first target shape, in real time. */
const REALTIME_SHAPE: Shape = SHAPES[0]!;
const CALIBRATION_ROOMS = 4;
const CALIBRATION_TICKS = 250;
const SEARCH_SECONDS = 2;
const BISECT_SECONDS = 3;
const CONFIRM_SECONDS = 5;
/** Runs per count while searching: a count that falls behind is tried once more (a busy machine can cost a frame). */
const SEARCH_ATTEMPTS = 2;
/** Confirmation runs tried (stepping down by one conversation) before giving up. */
const CONFIRM_TRIES = 3;
/** Time after setting up a run before measuring, so that set-up (codec creation) is not counted as lateness. */
const SETTLE_MS = 300;
const MAX_LEGS = 2560;

/** About -27 dBFS RMS: loud enough to count as speaking (the detector's threshold is -45 dBFS). */
const TONE_AMPLITUDE = 2000;
/** Its RFC 6464 level (−dBov), as a browser would send it; 127 is silence. */
const TONE_LEVEL = 27;
const SILENT_LEVEL = 127;
/** Bytes of an Opus frame of silence are single digits; a frame of tone is far above this. */
const MIN_AUDIO_BYTES = 20;
/** A G.711 leg's last packet above this level holds the mix, not silence (the tones are about −27 dBFS). */
const MIN_AUDIO_DBFS = -40;

const seconds = (ticks: number): number => (ticks * FRAME_MS) / 1000;

/** CPU time every process on the machine has used so far, in ms (os.cpus(), all cores). */
function machineBusyMs(): number {
  return cpus().reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0);
}

/** Cores that other processes kept busy during a window (machine-wide CPU minus this process's). */
function otherCores(busy0: number, w: Window): number {
  return Math.max(0, (machineBusyMs() - busy0) / w.wallMs - w.cpuUs / 1000 / w.wallMs);
}

const shapeList = SHAPES.map((s) => `${s.label}${s.audioLevel ? ' (level extension on)' : ''}`).join('; ');

export const bridgeMixMethod =
  `For each shape (${shapeList}), ${MIX_ROOMS} conversations, one AudioBridge each. Each Opus leg is a fake WebRtcEndpoint ` +
  `(no network, no mediasoup): its 'audio' listener is fed one packet per frame (sequence number +1, timestamp +${FRAME_SAMPLES}) ` +
  `carrying one 20 ms Opus frame pre-encoded with the project's FrameEncoder (48 kHz mono, default bitrate): a tone for a ` +
  `speaker (200 Hz + 50 Hz per leg, about −27 dBFS), digital silence for the others, with the RFC 6464 level a browser sends ` +
  `(${TONE_LEVEL} or ${SILENT_LEVEL}) where the shape says so; sendAudio() only counts frames and bytes. Each G.711 leg is the ` +
  'real SIP leg audio (RtpLegAudio: playout buffer, decode, level measured at 8 kHz, 8 → 48 kHz only when the bridge asks for ' +
  'it) on a fake RtpEndpoint whose sendFrame(), sendNative() and sendEncoded() run the real send stream (48 → 8 kHz when given ' +
  '48 kHz, PCMU encode when not encoded already, packetise) into a counter instead of a socket. Everything in the bridge is ' +
  'real, including its mixing at 8 kHz when every mixed leg is G.711. ' +
  `${fixed(MIX_TICKS)} frames (${seconds(MIX_TICKS)} s of audio) are driven as fast as possible by feeding every leg its ` +
  `packet and calling tick() on every bridge, after ${MIX_WARMUP_TICKS} warm-up frames; the bridges' timers are stopped. ` +
  'CPU is process.cpuUsage() (user + system); CPU per leg-frame = CPU / (legs × frames); legs per core = 20 ms / CPU per ' +
  'leg-frame. Beside each, its limit measured in the same run: what a leg costs if each leg needed one decode and one encode ' +
  `(${fixed(LIMIT_FRAMES)} frames of FrameEncoder.encode + Opus decode; G.711 encode + decode of 160 samples, and the same with ` +
  'the 8 ↔ 48 kHz resampling a bridge mixing at 48 kHz needs for it, the limit shown for G.711), and the ratio of legway’s ' +
  'legs per core to the limit’s. Checked: every ' +
  'leg was sent one frame per tick (Opus: averaging over ' +
  `${MIN_AUDIO_BYTES} bytes, i.e. audio, not silence; G.711: the last packet decoded is above ${MIN_AUDIO_DBFS} dBFS), speakers were reported speaking once and never stopped, silent legs ` +
  'never; with the level extension, silent legs were never decoded. Also shown: the bridges’ decode (to 48 kHz, or mixed at the ' +
  'codec’s rate as it came), encode and forward ' +
  'counts per frame, GCs, the cores other processes used meanwhile (os.cpus()) and involuntary context switches.';

export const bridgeRealtimeMethod =
  `Legs in conversations of ${REALTIME_SHAPE.size} with ${REALTIME_SHAPE.speakers} speaking (Opus with the level extension, ` +
  `one AudioBridge each, fake endpoints and real codec work as in 5a), run in real time: ` +
  `each bridge on its own 20 ms timer (started by its first add(), as in the gateway; the conversations start spread over one ` +
  `20 ms frame, as conversations started at unrelated times would be), and one drift-free 20 ms timer feeding ` +
  "every leg its packet (two packets up front, the jitter buffer's target depth). After a settle of " +
  `${SETTLE_MS} ms, a run counts bridge.stats.late (frames a bridge ran more than one frame late), ticks, process CPU and ` +
  'event-loop utilisation. A run keeps real time when late = 0, every bridge ticked on schedule and process CPU per 20 ms ' +
  `stays under 20 ms (under one core, GC threads included). Leg counts double from ${REALTIME_SHAPE.size} (${SEARCH_SECONDS} s runs) ` +
  `until a run falls behind, then bisect by ${REALTIME_SHAPE.size} legs (${BISECT_SECONDS} s runs), a count that falls behind being ` +
  `tried once more before it counts as too many; the result is confirmed by a ` +
  `${CONFIRM_SECONDS} s run. A short manual-tick calibration first derives the count from CPU per frame ` +
  '(floor(20 ms / CPU per leg-frame)), for comparison. Lateness depends on getting the CPU on time, so each run also shows ' +
  "the cores other processes used meanwhile (machine-wide os.cpus() time minus this process's) and how often the OS " +
  'preempted this process (involuntary context switches): on a busy machine the measured count is lower than the derived one.';

/** What every fake leg offers the benchmark. */
interface BenchLeg {
  readonly id: string;
  readonly speaks: boolean;
  framesSent: number;
  bytesSent: number;
  feed(): void;
  resetCounts(): void;
  /** Adds itself to the bridge. */
  join(bridge: AudioBridge): void;
  /** Stops handing the bridge packets. */
  detach(): void;
  /** The level of the last packet it was sent, in dBFS, when it can tell (G.711). */
  lastLevelDbfs?(): number;
}

/**
 * What this fake implements of WebRtcEndpoint: the signalling basics and what AudioBridge.add()
 * asks of an endpoint (id, `on('audio')`, sendAudio), not the video half.
 */
type FakeEndpoint = Pick<WebRtcEndpoint, 'id' | 'answer' | 'addRemoteCandidate' | 'sendAudio' | 'on' | 'close'>;

/** A fake WebRTC endpoint: hands the bridge one RTP packet per `feed()` (with its level, when the shape has it) and counts what it is sent. */
class OpusBenchLeg implements FakeEndpoint, BenchLeg {
  readonly answer = 'v=0\r\n';
  framesSent = 0;
  bytesSent = 0;
  private listener: ((packet: AudioPacket & { audioLevel?: number }) => void) | undefined;
  private sequenceNumber: number;
  private timestamp: number;

  constructor(
    readonly id: string,
    readonly speaks: boolean,
    private readonly payload: Buffer,
    private readonly audioLevel: number | undefined,
    start: number,
  ) {
    // Starts near the top of the sequence space, so some legs wrap during a run.
    this.sequenceNumber = (65_000 + start * 257) & 0xffff;
    this.timestamp = (start * 104_729) >>> 0;
  }

  join(bridge: AudioBridge): void {
    bridge.add(this.id, this);
  }

  feed(): void {
    const packet = { sequenceNumber: this.sequenceNumber, timestamp: this.timestamp, payload: this.payload };
    this.listener?.(this.audioLevel === undefined ? packet : { ...packet, audioLevel: this.audioLevel });
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.timestamp = (this.timestamp + FRAME_SAMPLES) >>> 0;
  }

  resetCounts(): void {
    this.framesSent = 0;
    this.bytesSent = 0;
  }

  addRemoteCandidate(): Promise<void> {
    return Promise.resolve();
  }

  sendAudio(opusFrame: Buffer): void {
    this.framesSent++;
    this.bytesSent += opusFrame.length;
  }

  on<E extends keyof EndpointEvents>(event: E, listener: (...args: EndpointEvents[E]) => void): () => void {
    if (event !== 'audio') return () => undefined;
    const audio = listener as unknown as (packet: AudioPacket) => void;
    this.listener = audio;
    return () => {
      if (this.listener === audio) this.listener = undefined;
    };
  }

  close(): Promise<void> {
    this.detach();
    return Promise.resolve();
  }

  detach(): void {
    this.listener = undefined;
  }
}

const PCMU: RtpCodecConfig = { payloadType: 0, codec: 'PCMU', ptime: 20 };

/**
 * A SIP leg without sockets: the real RtpLegAudio on a stand-in for RtpEndpoint that emits one PCMU
 * packet per `feed()` and whose sendFrame() runs the real AudioSendStream into a counter.
 */
class G711BenchLeg implements BenchLeg {
  framesSent = 0;
  bytesSent = 0;
  /** A copy of the last packet's payload (20 ms of PCMU). */
  private readonly lastPayload = Buffer.alloc(160);
  private readonly output = new AudioSendStream(0);
  private rtp: ((packet: RtpPacket) => void) | undefined;
  private sequenceNumber: number;
  private timestamp: number;

  constructor(
    readonly id: string,
    readonly speaks: boolean,
    private readonly payload: Buffer,
    start: number,
  ) {
    this.output.configure(PCMU);
    this.sequenceNumber = (65_000 + start * 257) & 0xffff;
    this.timestamp = (start * 104_729) >>> 0;
  }

  get codec(): RtpCodecConfig {
    return PCMU;
  }

  join(bridge: AudioBridge): void {
    // RtpLegAudio asks its endpoint for on('rtp'), on('telephoneEvent'), codec and sendFrame(): this stands in for them.
    bridge.addLeg(this.id, new RtpLegAudio(this as unknown as RtpEndpoint));
  }

  on<E extends keyof RtpEndpointEvents>(event: E, listener: (...args: RtpEndpointEvents[E]) => void): () => void {
    if (event === 'rtp') this.rtp = listener;
    return () => undefined;
  }

  sendFrame(pcm48: Int16Array): void {
    this.output.tick(pcm48, this.sink);
  }

  sendEncoded(payload: Uint8Array): void {
    this.output.tickEncoded(payload, this.sink);
  }

  sendNative(pcm: Int16Array): void {
    this.output.tickNative(pcm, this.sink);
  }

  feed(): void {
    this.rtp?.({ payloadType: 0, sequenceNumber: this.sequenceNumber, timestamp: this.timestamp, ssrc: 0x1234, marker: false, payload: this.payload });
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.timestamp = (this.timestamp + 160) >>> 0;
  }

  resetCounts(): void {
    this.framesSent = 0;
    this.bytesSent = 0;
  }

  detach(): void {
    this.rtp = undefined;
  }

  lastLevelDbfs(): number {
    return frameDbfs(decodeG711('PCMU', this.lastPayload));
  }

  private readonly sink = (_pt: number, _ts: number, _marker: boolean, payload: Uint8Array): boolean => {
    this.framesSent++;
    this.bytesSent += payload.length;
    if (payload.length === this.lastPayload.length) this.lastPayload.set(payload);
    return true;
  };
}

/** One 20 ms frame of a `hz` tone (a whole number of cycles per frame, so it repeats seamlessly); 0 Hz is silence. */
function toneFrame(hz: number, rate = SAMPLE_RATE): Int16Array {
  const samples = (rate * FRAME_MS) / 1000;
  const pcm = new Int16Array(samples);
  if (hz > 0) for (let i = 0; i < samples; i++) pcm[i] = Math.round(TONE_AMPLITUDE * Math.sin((2 * Math.PI * hz * i) / rate));
  return pcm;
}

const opusFrames = new Map<number, Buffer>();

/** One Opus frame of a `hz` tone, the fifth of a run: past the encoder's start-up, like a packet from the middle of a call. */
function encodedTone(hz: number): Buffer {
  const cached = opusFrames.get(hz);
  if (cached) return cached;
  const pcm = toneFrame(hz);
  const encoder = new FrameEncoder();
  let packet = encoder.encode(pcm);
  for (let k = 0; k < 4; k++) packet = encoder.encode(pcm);
  encoder.close();
  opusFrames.set(hz, packet);
  return packet;
}

let legSerial = 0;

/** One conversation: a bridge and its fake legs, the first `speakers` of them speaking. The first add() starts the bridge's 20 ms timer. */
class Room {
  readonly bridge: AudioBridge;
  readonly legs: BenchLeg[] = [];
  speakingOn = 0;
  speakingOff = 0;
  /** Speaking reports about legs that do not speak. */
  wrongSpeaking = 0;

  constructor(id: string, shape: Shape, logger: Logger) {
    const speakerIds = new Set<string>();
    this.bridge = new AudioBridge(
      id,
      (legId, on) => {
        if (!speakerIds.has(legId)) this.wrongSpeaking++;
        if (on) this.speakingOn++;
        else this.speakingOff++;
      },
      logger,
    );
    for (let i = 0; i < shape.size; i++) {
      const speaks = i < shape.speakers;
      const legId = `${id}-leg-${i + 1}`;
      if (speaks) speakerIds.add(legId);
      const hz = speaks ? 200 + 50 * i : 0;
      const leg =
        shape.codec === 'opus'
          ? new OpusBenchLeg(legId, speaks, encodedTone(hz), shape.audioLevel ? (speaks ? TONE_LEVEL : SILENT_LEVEL) : undefined, legSerial++)
          : new G711BenchLeg(legId, speaks, encodeG711('PCMU', toneFrame(hz, 8000)), legSerial++);
      this.legs.push(leg);
      leg.join(this.bridge);
    }
  }

  feed(): void {
    for (const leg of this.legs) leg.feed();
  }

  close(): void {
    for (const leg of this.legs) {
      this.bridge.remove(leg.id);
      leg.detach();
    }
    this.bridge.stop();
  }
}

/** Logger for the bridges: keeps warnings and errors (a tick that throws is logged, not thrown). */
function benchLogger(): { logger: Logger; errors: () => string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  return { logger, errors: () => lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50) };
}

/** Counts garbage collections (all kinds) and their pause time while it is on. */
function watchGc(): { reset(): void; read(): Promise<{ count: number; ms: number }>; stop(): void } {
  let count = 0;
  let ms = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      count++;
      ms += entry.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    reset: () => {
      count = 0;
      ms = 0;
    },
    // Entries arrive asynchronously; let the loop deliver those of the run just finished.
    read: async () => {
      await sleep(5);
      return { count, ms };
    },
    stop: () => observer.disconnect(),
  };
}

/** Runs `ticks` frames through the rooms as fast as possible; returns each frame's feed + tick time in µs. */
function driveManually(rooms: readonly Room[], ticks: number): number[] {
  const times: number[] = [];
  for (let t = 0; t < ticks; t++) {
    const start = process.hrtime.bigint();
    for (const room of rooms) {
      room.feed();
      room.bridge.tick();
    }
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  return times;
}

/** CPU µs per call of `work`, over `frames` calls after a short warm-up. */
function cpuPerCall(frames: number, work: () => void): number {
  for (let i = 0; i < 100; i++) work();
  const stop = startWindow();
  for (let i = 0; i < frames; i++) work();
  return stop().cpuUs / frames;
}

interface Limits {
  /** One Opus decode + one encode of a 20 ms frame. */
  opus: number;
  /** One G.711 decode + encode of 160 samples. */
  g711: number;
  /** The same with 8 → 48 kHz and 48 → 8 kHz resampling, what a bridge mixing at 48 kHz does for a G.711 leg. */
  g711Resampled: number;
}

/** The raw codec costs per frame, measured now. */
function measureLimits(): Limits {
  const pcm = toneFrame(300);
  const encoder = new FrameEncoder();
  const decoder = createOpusCodec();
  const packet = encodedTone(300);
  const opus = cpuPerCall(LIMIT_FRAMES, () => {
    decoder.decode(packet);
    encoder.encode(pcm);
  });
  encoder.close();
  const pcm8 = toneFrame(300, 8000);
  const bytes = Buffer.alloc(160);
  const decoded = new Int16Array(160);
  const g711 = cpuPerCall(LIMIT_FRAMES * 10, () => {
    decodeG711('PCMU', encodeG711('PCMU', pcm8, bytes), decoded);
  });
  const up = new Upsampler(6);
  const down = new Downsampler(6);
  const wide = new Int16Array(FRAME_SAMPLES);
  const narrow = new Int16Array(160);
  const g711Resampled = cpuPerCall(LIMIT_FRAMES, () => {
    up.process(decodeG711('PCMU', encodeG711('PCMU', down.process(pcm, narrow), bytes), decoded), wide);
  });
  return { opus, g711, g711Resampled };
}

const perCore = (usPerLegFrame: number): number => Math.floor((FRAME_MS * 1000) / usPerLegFrame);

/** Benchmark 5a: CPU per leg-frame in the target shapes, each beside its codec limit. */
export async function benchBridgeMix(): Promise<BenchResult> {
  const { logger, errors } = benchLogger();
  const gc = watchGc();
  const failures: string[] = [];
  const rows: [string, string][] = [];
  const summary: SummaryRow[] = [];
  try {
    const limits = measureLimits();
    const us = (n: number): string => `${fixed(n, 1)} µs`;
    rows.push(
      ['Limit, Opus', `${us(limits.opus)} per leg-frame (one decode + one encode) → ${fixed(perCore(limits.opus))} legs per core`],
      [
        'Limit, G.711',
        `${us(limits.g711)} per leg-frame (PCMU decode + encode) → ${fixed(perCore(limits.g711))} legs per core; with the 8 ↔ 48 kHz ` +
          `resampling: ${us(limits.g711Resampled)} → ${fixed(perCore(limits.g711Resampled))} legs per core`,
      ],
    );
    for (const shape of SHAPES) {
      const rooms = Array.from({ length: MIX_ROOMS }, (_, i) => new Room(`mix-${shape.codec}-${shape.size}-${i + 1}`, shape, logger));
      // Manual ticks only: the first add() armed each bridge's timer, which cannot have fired yet.
      for (const room of rooms) room.bridge.stop();
      try {
        driveManually(rooms, MIX_WARMUP_TICKS);
        for (const room of rooms) for (const leg of room.legs) leg.resetCounts();
        const before = rooms.map((room) => room.bridge.stats);
        gc.reset();
        const busy0 = machineBusyMs();
        const switches0 = process.resourceUsage().involuntaryContextSwitches;
        const stop = startWindow();
        const times = driveManually(rooms, MIX_TICKS);
        const w = stop();
        const others = otherCores(busy0, w);
        const preempted = process.resourceUsage().involuntaryContextSwitches - switches0;
        const collections = await gc.read();
        const after = rooms.map((room) => room.bridge.stats);
        const work = { decoded: 0, native: 0, encoded: 0, sharedEncoded: 0, forwarded: 0 };
        rooms.forEach((_, i) => {
          for (const key of Object.keys(work) as (keyof typeof work)[]) work[key] += after[i]![key] - before[i]![key];
        });

        const legs = shape.size * MIX_ROOMS;
        const perLegFrame = w.cpuUs / (legs * MIX_TICKS);
        const limit = shape.limit === 'opus' ? limits.opus : limits.g711Resampled;
        const frames = MIX_TICKS * MIX_ROOMS;
        rows.push(
          [
            shape.label,
            `${us(perLegFrame)} CPU per leg-frame → ${fixed(perCore(perLegFrame))} legs per core` +
              `${shape.target === undefined ? '' : ` (target ${fixed(shape.target)}${perCore(perLegFrame) >= shape.target ? ', met' : ', NOT met'})`}; limit ` +
              `${fixed(perCore(limit))} (${us(limit)}${shape.limit === 'g711' ? `, with resampling; codec alone ${fixed(perCore(limits.g711))}` : ''}): ` +
              `${fixed(limit / perLegFrame, 1)}× the limit`,
          ],
          [
            '  per conversation-frame',
            `${fixed(work.decoded / frames, 2)} decodes${work.native > 0 ? ` (and ${fixed(work.native / frames, 2)} mixed at the codec's rate)` : ''}, ${fixed(work.encoded / frames, 2)} own encodes, ${fixed(work.sharedEncoded / frames, 2)} ` +
              `shared encodes, ${fixed(work.forwarded / frames, 2)} forwarded; feed + tick of ${MIX_ROOMS} conversations p50 ` +
              `${fixed(percentile(times, 50), 0)} µs, p99 ${fixed(percentile(times, 99), 0)} µs; ${collections.count} GCs, ` +
              `${fixed(collections.ms, 1)} ms; other processes ${fixed(others, 2)} cores, preempted ${fixed(preempted)}×`,
          ],
        );
        if (shape.target !== undefined) {
          summary.push({
            path: `Bridge: ${shape.label}`,
            unit: 'legs per core',
            value: perCore(perLegFrame),
            limit: perCore(limit),
            limitIs: 'one decode + encode per leg',
            target: shape.target,
            better: 'higher',
          });
        }
        failures.push(...checkRooms(rooms, shape, MIX_TICKS));
      } finally {
        for (const room of rooms) room.close();
      }
    }
    for (const line of errors()) failures.push(`bridge logged: ${line.trim()}`);
    return { lines: table(rows), failures, summary };
  } finally {
    gc.stop();
  }
}

/** What 5a and 5b check of a run: frames sent, audio not silence, speaking reports, silent legs not decoded. */
function checkRooms(rooms: readonly Room[], shape: Shape, ticks: number | ((room: Room) => number)): string[] {
  const problems: string[] = [];
  for (const room of rooms) {
    const roomTicks = typeof ticks === 'number' ? ticks : ticks(room);
    const name = room.bridge.conversationId;
    if (room.speakingOn !== shape.speakers || room.speakingOff !== 0 || room.wrongSpeaking !== 0) {
      problems.push(
        `${name}: speaking reported on ${room.speakingOn} times and off ${room.speakingOff} times (${room.wrongSpeaking} of silent legs); expected ${shape.speakers} and 0`,
      );
    }
    for (const leg of room.legs) {
      if (leg.framesSent !== roomTicks) problems.push(`${leg.id} was sent ${leg.framesSent} frames in ${roomTicks} ticks`);
      else if (shape.codec === 'opus' && leg.bytesSent < leg.framesSent * MIN_AUDIO_BYTES)
        problems.push(`${leg.id} was sent ${fixed(leg.bytesSent / leg.framesSent, 1)} B per frame: silence, not the mix`);
      else if (leg.lastLevelDbfs !== undefined && !(leg.lastLevelDbfs() > MIN_AUDIO_DBFS))
        problems.push(`${leg.id} was last sent ${fixed(leg.lastLevelDbfs(), 1)} dBFS: silence, not the mix`);
      const decoded = room.bridge.legStats(leg.id)?.decoded ?? 0;
      if (shape.audioLevel && !leg.speaks && decoded > 0) problems.push(`${leg.id} is silent (level ${SILENT_LEVEL}) but was decoded ${decoded} times`);
    }
  }
  return problems.slice(0, 10);
}

interface RealtimeRun {
  legs: number;
  seconds: number;
  late: number;
  ticks: number;
  expectedTicks: number;
  cores: number;
  elu: number;
  /** Cores other processes on the machine used meanwhile: competition for the CPU this run had. */
  others: number;
  /** Involuntary context switches of this process (all threads): times the OS took the CPU away. */
  preempted: number;
  /** Empty when the run kept real time; otherwise why not. */
  problems: string[];
}

/** Runs `legs` legs in real time for `runSeconds` and reports whether every bridge kept up. */
async function realtimeRun(legs: number, runSeconds: number, logger: Logger): Promise<RealtimeRun> {
  const shape = REALTIME_SHAPE;
  const rooms: Room[] = [];
  let feeder: NodeJS.Timeout | undefined;
  let feeding = true;
  try {
    const feedStart = performance.now();
    let fed = 0;
    // The network side: one packet per leg per 20 ms, caught up to wall time like the bridge's own loop.
    const feed = (): void => {
      if (!feeding) return;
      const due = Math.floor((performance.now() - feedStart) / FRAME_MS) - fed;
      for (let k = 0; k < due; k++) for (const room of rooms) room.feed();
      fed += Math.max(0, due);
      feeder = setTimeout(feed, Math.max(0, feedStart + (fed + 1) * FRAME_MS - performance.now()));
    };
    feeder = setTimeout(feed, FRAME_MS);

    // Conversations start spread over one frame, as ones started at unrelated times would be, so
    // that their ticks do not all fall due at the same moment.
    const count = legs / shape.size;
    for (let i = 0; i < count; i++) {
      await sleep(Math.max(0, feedStart + (i * FRAME_MS) / count - performance.now()));
      const room = new Room(`rt-${legs}-${i + 1}`, shape, logger);
      // The jitter buffer's target depth, so that every leg plays from its first tick.
      room.feed();
      room.feed();
      rooms.push(room);
    }

    await sleep(SETTLE_MS);
    const before = rooms.map((room) => room.bridge.stats);
    for (const room of rooms) for (const leg of room.legs) leg.resetCounts();
    const elu0 = performance.eventLoopUtilization();
    const busy0 = machineBusyMs();
    const switches0 = process.resourceUsage().involuntaryContextSwitches;
    const stop = startWindow();
    await sleep(runSeconds * 1000);
    const w = stop();
    const others = otherCores(busy0, w);
    const preempted = process.resourceUsage().involuntaryContextSwitches - switches0;
    const elu = performance.eventLoopUtilization(elu0).utilization;
    const after = rooms.map((room) => room.bridge.stats);

    let late = 0;
    let ticks = 0;
    const roomTicks = new Map<Room, number>();
    rooms.forEach((room, i) => {
      const n = after[i]!.ticks - before[i]!.ticks;
      roomTicks.set(room, n);
      late += after[i]!.late - before[i]!.late;
      ticks += n;
    });
    const problems = checkRooms(rooms, shape, (room) => roomTicks.get(room) ?? 0);
    const expectedTicks = Math.round(w.wallMs / FRAME_MS) * rooms.length;
    const cores = w.cpuUs / 1000 / w.wallMs;
    if (late > 0) problems.unshift(`${late} late frames`);
    // A bridge's tick count may be off by one either side of the window, no more.
    if (Math.abs(ticks - expectedTicks) > 2 * rooms.length) problems.unshift(`${ticks} ticks where ${expectedTicks} were due`);
    if (cores >= 1) problems.unshift(`process CPU ${fixed(cores, 2)} cores`);
    return { legs, seconds: runSeconds, late, ticks, expectedTicks, cores, elu, others, preempted, problems };
  } finally {
    feeding = false;
    clearTimeout(feeder);
    for (const room of rooms) room.close();
    // Let the codecs' native memory be collected between runs.
    await sleep(50);
  }
}

function describeRun(run: RealtimeRun, retry: boolean): [string, string] {
  const verdict = run.problems.length === 0 ? 'kept real time' : `FELL BEHIND (${run.problems.slice(0, 2).join('; ')}${run.problems.length > 2 ? '; …' : ''})`;
  return [
    `${run.legs} legs, ${run.seconds} s${retry ? ', again' : ''}`,
    `late ${run.late}, ticks ${fixed(run.ticks)}/${fixed(run.expectedTicks)}, CPU ${fixed(run.cores, 2)} cores, ` +
      `event loop ${fixed(run.elu * 100, 0)}% busy, other processes ${fixed(run.others, 2)} cores, preempted ${fixed(run.preempted)}×: ${verdict}`,
  ];
}

/** Benchmark 5b: the most legs one core keeps in real time. */
export async function benchBridgeRealtime(): Promise<BenchResult> {
  const { logger, errors } = benchLogger();
  const rows: [string, string][] = [];
  const failures: string[] = [];
  const size = REALTIME_SHAPE.size;

  // Calibration (also the JIT warm-up when 5b runs alone): manual ticks of conversations of the shape.
  const rooms = Array.from({ length: CALIBRATION_ROOMS }, (_, i) => new Room(`cal-${i + 1}`, REALTIME_SHAPE, logger));
  let perLegTick: number;
  try {
    for (const room of rooms) room.bridge.stop();
    driveManually(rooms, 50);
    const stop = startWindow();
    driveManually(rooms, CALIBRATION_TICKS);
    perLegTick = stop().cpuUs / (CALIBRATION_TICKS * CALIBRATION_ROOMS * size);
  } finally {
    for (const room of rooms) room.close();
  }
  const derived = Math.floor((FRAME_MS * 1000) / perLegTick / size) * size;
  rows.push(['Calibration', `${fixed(perLegTick, 1)} µs CPU per leg-frame (${REALTIME_SHAPE.label}) → ${fixed(derived)} legs per core derived`]);

  const runs: RealtimeRun[] = [];
  const run = async (legs: number, runSeconds: number, attempts = 1): Promise<boolean> => {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const result = await realtimeRun(legs, runSeconds, logger);
      runs.push(result);
      rows.push(describeRun(result, attempt > 1));
      if (result.problems.length === 0) return true;
    }
    return false;
  };

  // Doubling, then bisection between the last count that kept up and the first that did not.
  let good = 0;
  let bad = 0;
  for (let legs = size; legs <= MAX_LEGS; legs *= 2) {
    if (await run(legs, SEARCH_SECONDS, SEARCH_ATTEMPTS)) good = legs;
    else {
      bad = legs;
      break;
    }
  }
  if (good === 0) failures.push(`even ${size} legs did not keep real time`);
  if (bad === 0) {
    rows.push(['Legs kept in real time', `at least ${fixed(good)} (the search stops at ${MAX_LEGS})`]);
  } else if (good > 0) {
    while (bad - good > size) {
      const mid = Math.round((good + bad) / 2 / size) * size;
      if (await run(mid, BISECT_SECONDS, SEARCH_ATTEMPTS)) good = mid;
      else bad = mid;
    }
    let confirmed = 0;
    const confirmFrom = runs.length;
    for (let attempt = 0; attempt < CONFIRM_TRIES && good - attempt * size > 0; attempt++) {
      const legs = good - attempt * size;
      if (await run(legs, CONFIRM_SECONDS)) {
        confirmed = legs;
        break;
      }
    }
    const final = runs[runs.length - 1]!;
    if (confirmed === 0) {
      // Reported, not failed: on a shared machine other processes take the core the bridge was measured on.
      const tries = runs.slice(confirmFrom).map((r) => fixed(r.others, 2));
      rows.push([
        'Confirmation',
        `no count at or below ${fixed(good)} legs kept real time over ${CONFIRM_SECONDS} s in ${tries.length} tries ` +
          `(other processes used ${tries.join(', ')} cores meanwhile); run again on a quiet machine`,
      ]);
    }
    rows.push([
      'Legs kept in real time on one core',
      confirmed > 0
        ? `${fixed(confirmed)} (${confirmed / size} conversations of ${size}; ${CONFIRM_SECONDS} s run: late 0, ` +
          `CPU ${fixed(final.cores, 2)} cores, event loop ${fixed(final.elu * 100, 0)}% busy, other processes ` +
          `${fixed(final.others, 2)} cores, preempted ${fixed(final.preempted)}×; derived from CPU: ${fixed(derived)})`
        : `not confirmed over ${CONFIRM_SECONDS} s; ${fixed(good)} kept real time in the search (derived from CPU: ${fixed(derived)})`,
    ]);
  }
  for (const line of errors()) failures.push(`bridge logged: ${line.trim()}`);
  return { lines: table(rows), failures };
}
