/**
 * Opus encoding of the bridge's output frames. Each output leg needs its own encoder: Opus keeps
 * state from frame to frame (prediction, band energies, mode and bitrate decisions), so one
 * encoder fed several legs' mixes in turn would make every leg's stream garbage.
 */
import { FRAME_SAMPLES } from './frame.js';
import { createOpusCodec, type OpusCodec } from './opusCodec.js';

export interface FrameEncoderOptions {
  /** Target bitrate in bits per second; the codec's default otherwise. */
  bitrate?: number;
}

/** Encodes one output leg's 20 ms frames to Opus packets. */
export class FrameEncoder {
  private codec: OpusCodec | undefined;

  constructor(options: FrameEncoderOptions = {}) {
    this.codec = createOpusCodec();
    if (options.bitrate !== undefined) this.codec.setBitrate(options.bitrate);
  }

  /** Encodes one 960-sample frame; throws after close or for a frame of another length. */
  encode(frame: Int16Array): Buffer {
    if (this.codec === undefined) throw new Error('FrameEncoder is closed');
    if (frame.length !== FRAME_SAMPLES) throw new RangeError(`frame has ${frame.length} samples, expected ${FRAME_SAMPLES}`);
    // A view, not a copy; the platforms Node runs on are little-endian, as Opus input must be.
    return this.codec.encode(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
  }

  /** Drops the codec; harmless twice. */
  close(): void {
    this.codec = undefined;
  }
}

let silence: Buffer | undefined;

/**
 * One encoded 20 ms frame of silence, encoded once and shared (do not modify it): sent to legs
 * that hear nobody, where running their encoder on zeros would cost CPU for the same bytes.
 */
export function encodedSilence(): Buffer {
  // Any decoder accepts it: an Opus packet describes its own mode, so it need not come from the leg's encoder.
  silence ??= createOpusCodec().encode(Buffer.alloc(FRAME_SAMPLES * 2));
  return silence;
}
