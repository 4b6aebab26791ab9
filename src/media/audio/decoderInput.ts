/**
 * One leg's incoming audio as the bridge consumes it: packets in whenever the network delivers
 * them, exactly one 20 ms frame out per tick, with gaps concealed. Taking a tick's packet and
 * decoding it are two steps, so that the bridge can leave a silent leg's packets undecoded while
 * the jitter buffer still plays them out in step.
 */
import { audioLevelDbfs, type LevelledAudioPacket } from './audioLevel.js';
import { FRAME_SAMPLES } from './frame.js';
import { JitterBuffer, type JitterBufferOptions } from './jitterBuffer.js';
import { createOpusCodec } from './opusCodec.js';

/** What the input needs from an Opus decoder; the real one is `@discordjs/opus`. */
export interface FrameDecoder {
  /** Decodes one Opus packet to s16le PCM; may throw on a corrupt packet. */
  decode(payload: Buffer): Buffer;
}

export interface AudioInputOptions {
  jitter?: JitterBufferOptions;
  /** Defaults to a fresh 48 kHz mono Opus decoder (decoder state is per stream). */
  decoder?: FrameDecoder;
}

/** What a tick took from the jitter buffer, before any decoding. Reused: valid until the next `receive()`. */
export interface ReceivedFrame {
  /** A packet for this tick, a gap to conceal, or nothing playing (not started, drained). */
  kind: 'frame' | 'missing' | 'empty';
  /** The packet as received (still encoded), when `kind` is 'frame'. */
  payload: Buffer | undefined;
  /**
   * The sender's level in dBFS from its RFC 6464 extension (−Infinity for silence), when the stream
   * carries one; for a gap, the last level less the concealment's fade. Undefined: decode to know.
   */
  levelDbfs: number | undefined;
}

// A repeated frame fades out rather than buzzing on: half, then a quarter, then silence.
const CONCEALMENT_GAINS = [0.5, 0.25] as const;
/** The same fade in dB, for the level of a concealed frame. */
const CONCEALMENT_DB = [-6, -12] as const;

const FRAME_BYTES = FRAME_SAMPLES * 2;
/**
 * Skipped packets decoded before decoding resumes. Opus predicts each frame's band energies from
 * the last one's, so a decoder that missed packets plays its first frames far too quiet (−17 dB,
 * then recovering over 100 ms); the last 5 packets run through it first bring it within 0.5 dB.
 */
const PRIME_FRAMES = 5;

/** Jitter buffer, Opus decoder and loss concealment for one incoming stream. */
export class AudioInput {
  readonly jitter: JitterBuffer;
  /** Packets decoded (priming included), and packets taken but left undecoded. */
  readonly counts = { decoded: 0, skipped: 0 };
  private decoder: FrameDecoder | undefined;
  /** The last frame decoded well; the source for concealment. */
  private readonly decoded = new Int16Array(FRAME_SAMPLES);
  private readonly concealed = new Int16Array(FRAME_SAMPLES);
  private hasDecoded = false;
  private losses = 0;
  private readonly received: ReceivedFrame = { kind: 'empty', payload: undefined, levelDbfs: undefined };
  /** Whether `received` still waits for `decode()` (a new `receive()` then counts it as skipped). */
  private pending = false;
  /** The last packets left undecoded, oldest first: decoded first when decoding resumes (PRIME_FRAMES). */
  private readonly primers: Buffer[] = [];
  /** The level of the last packet that carried one, and the gaps since. */
  private lastLevel: number | undefined;

  constructor(options: AudioInputOptions = {}) {
    this.jitter = new JitterBuffer(options.jitter);
    this.decoder = options.decoder ?? createOpusCodec();
  }

  /** Adds one received packet; ignored after close. */
  push(packet: LevelledAudioPacket): void {
    if (this.decoder === undefined) return;
    this.jitter.push(packet);
  }

  /**
   * Takes this tick's packet from the jitter buffer without decoding it: call exactly once per tick,
   * then `decode()` if the audio is wanted. A tick not decoded keeps the buffer's pace all the same.
   */
  receive(): ReceivedFrame {
    if (this.pending) this.skip();
    const r = this.received;
    if (this.decoder === undefined) {
      r.kind = 'empty';
      r.payload = undefined;
      r.levelDbfs = undefined;
      return r;
    }
    const popped = this.jitter.pop();
    r.kind = popped.kind;
    if (popped.kind === 'frame') {
      r.payload = popped.payload;
      this.lastLevel = popped.audioLevel;
      r.levelDbfs = popped.audioLevel === undefined ? undefined : audioLevelDbfs(popped.audioLevel);
    } else {
      r.payload = undefined;
      const fade = CONCEALMENT_DB[this.losses];
      r.levelDbfs = popped.kind === 'empty' || this.lastLevel === undefined ? undefined : fade === undefined ? -Infinity : audioLevelDbfs(this.lastLevel) + fade;
    }
    if (popped.kind === 'empty') {
      // The stream stopped (or never started); a later loss must not resurrect a stale frame.
      this.hasDecoded = false;
      this.losses = 0;
      this.primers.length = 0;
      if (this.lastLevel !== undefined) r.levelDbfs = -Infinity;
      this.pending = false;
      return r;
    }
    this.pending = true;
    return r;
  }

  /** The audio of what `receive()` took this tick (960 samples), or `undefined` for silence. The array is reused. */
  decode(): Int16Array | undefined {
    if (!this.pending) return undefined;
    this.pending = false;
    const r = this.received;
    if (this.primers.length > 0) {
      // Decoding resumes after packets were skipped: run the last of them through the decoder
      // first, so that the frame played now does not come from a decoder state long out of date.
      for (const primer of this.primers) this.decodeInto(primer);
      this.primers.length = 0;
    }
    if (r.kind === 'frame' && r.payload !== undefined && this.decodeInto(r.payload)) {
      this.losses = 0;
      return this.decoded;
    }
    return this.conceal();
  }

  /**
   * The frame for this tick (960 samples), or `undefined` for silence: not started, drained, or
   * too long a loss. The array is reused: it is valid until the next call.
   */
  nextFrame(): Int16Array | undefined {
    this.receive();
    return this.decode();
  }

  /** Drops the decoder and buffered packets; harmless twice. */
  close(): void {
    this.decoder = undefined;
    this.pending = false;
    this.primers.length = 0;
    this.jitter.reset();
  }

  /** Leaves the pending packet undecoded: the concealment source is now stale, and it primes the next decode. */
  private skip(): void {
    this.pending = false;
    this.counts.skipped++;
    const r = this.received;
    if (r.kind === 'frame' && r.payload !== undefined) {
      if (this.primers.length === PRIME_FRAMES) this.primers.shift();
      this.primers.push(r.payload);
      this.losses = 0;
    } else {
      this.losses++;
    }
    this.hasDecoded = false;
  }

  /** Decodes into `decoded`; false (a loss) for a corrupt packet or one that is not exactly 20 ms. */
  private decodeInto(payload: Buffer): boolean {
    // An empty payload would make the decoder run its own 120 ms concealment.
    if (this.decoder === undefined || payload.length === 0) return false;
    let pcm: Buffer;
    try {
      this.counts.decoded++;
      pcm = this.decoder.decode(payload);
    } catch {
      return false;
    }
    // Our frames are 20 ms; a 10 or 60 ms packet cannot fill one tick, so it counts as lost.
    if (pcm.length !== FRAME_BYTES) return false;
    // A view when aligned (the platforms Node runs on are little-endian, as the decoder's output is).
    if (pcm.byteOffset % 2 === 0) this.decoded.set(new Int16Array(pcm.buffer, pcm.byteOffset, FRAME_SAMPLES));
    else for (let i = 0; i < FRAME_SAMPLES; i++) this.decoded[i] = pcm.readInt16LE(i * 2);
    this.hasDecoded = true;
    return true;
  }

  private conceal(): Int16Array | undefined {
    const gain = CONCEALMENT_GAINS[this.losses];
    this.losses++;
    if (gain === undefined || !this.hasDecoded) return undefined;
    for (let i = 0; i < FRAME_SAMPLES; i++) this.concealed[i] = Math.round((this.decoded[i] ?? 0) * gain);
    return this.concealed;
  }
}
