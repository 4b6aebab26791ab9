/**
 * One leg's incoming audio as the bridge consumes it: packets in whenever the network delivers
 * them, exactly one decoded 20 ms frame out per tick, with gaps concealed.
 */
import type { AudioPacket } from '../engine.js';
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

// A repeated frame fades out rather than buzzing on: half, then a quarter, then silence.
const CONCEALMENT_GAINS = [0.5, 0.25] as const;

const FRAME_BYTES = FRAME_SAMPLES * 2;

/** Jitter buffer, Opus decoder and loss concealment for one incoming stream. */
export class AudioInput {
  readonly jitter: JitterBuffer;
  private decoder: FrameDecoder | undefined;
  /** The last frame decoded well; the source for concealment. */
  private readonly decoded = new Int16Array(FRAME_SAMPLES);
  private readonly concealed = new Int16Array(FRAME_SAMPLES);
  private hasDecoded = false;
  private losses = 0;

  constructor(options: AudioInputOptions = {}) {
    this.jitter = new JitterBuffer(options.jitter);
    this.decoder = options.decoder ?? createOpusCodec();
  }

  /** Adds one received packet; ignored after close. */
  push(packet: AudioPacket): void {
    if (this.decoder === undefined) return;
    this.jitter.push(packet);
  }

  /**
   * The frame for this tick (960 samples), or `undefined` for silence: not started, drained, or
   * too long a loss. The array is reused: it is valid until the next call.
   */
  nextFrame(): Int16Array | undefined {
    if (this.decoder === undefined) return undefined;
    const popped = this.jitter.pop();
    if (popped.kind === 'empty') {
      // The stream stopped (or never started); a later loss must not resurrect a stale frame.
      this.hasDecoded = false;
      this.losses = 0;
      return undefined;
    }
    if (popped.kind === 'frame' && this.decode(popped.payload)) {
      this.losses = 0;
      return this.decoded;
    }
    return this.conceal();
  }

  /** Drops the decoder and buffered packets; harmless twice. */
  close(): void {
    this.decoder = undefined;
    this.jitter.reset();
  }

  /** Decodes into `decoded`; false (a loss) for a corrupt packet or one that is not exactly 20 ms. */
  private decode(payload: Buffer): boolean {
    // An empty payload would make the decoder run its own 120 ms concealment.
    if (this.decoder === undefined || payload.length === 0) return false;
    let pcm: Buffer;
    try {
      pcm = this.decoder.decode(payload);
    } catch {
      return false;
    }
    // Our frames are 20 ms; a 10 or 60 ms packet cannot fill one tick, so it counts as lost.
    if (pcm.length !== FRAME_BYTES) return false;
    for (let i = 0; i < FRAME_SAMPLES; i++) this.decoded[i] = pcm.readInt16LE(i * 2);
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
