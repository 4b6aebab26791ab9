/**
 * One encoder per codec key for the mix that every listener outside the mixed set hears: the mix
 * is the same for all of them, so it is encoded once per codec and packet time, not once per leg.
 * The encoders are stateful (Opus, G.722), so each key keeps its own, fed every tick it is used; a
 * listener that moves between its own encoder and the shared one gets frames from a different
 * encoder state, which decoders take as they take any stream (as in other MCUs).
 */
import type { LegCodec, MixEncoder } from './legAudio.js';

/** Ticks a key's encoder may stay unused before it is freed. */
const IDLE_TICKS = 250;

interface Entry {
  encoder: MixEncoder;
  /** The tick the payload was encoded for. */
  tick: number;
  payload: Buffer | undefined;
}

/** The shared encoders of one bridge. */
export class SharedEncoders {
  private readonly entries = new Map<string, Entry>();
  /** Frames encoded so far, all keys together. */
  encoded = 0;

  /** This tick's `mix` (48 kHz) in `codec`, encoded on the first call of the tick and handed out to every later one. */
  encode(codec: LegCodec, mix: Int16Array, tick: number): Buffer {
    const entry = this.entry(codec);
    if (entry.tick !== tick || entry.payload === undefined) {
      entry.payload = entry.encoder.encode(mix);
      entry.tick = tick;
      this.encoded++;
    }
    return entry.payload;
  }

  /**
   * The same for a mix at the codec's own rate (`codec.nativeRate`), with no resampling; undefined
   * when its encoder takes only 48 kHz. A tick's listeners of one key all take one path or the other.
   */
  encodeNative(codec: LegCodec, pcm: Int16Array, tick: number): Buffer | undefined {
    const entry = this.entry(codec);
    if (entry.encoder.encodeNative === undefined) return undefined;
    if (entry.tick !== tick || entry.payload === undefined) {
      entry.payload = entry.encoder.encodeNative(pcm);
      entry.tick = tick;
      this.encoded++;
    }
    return entry.payload;
  }

  /** Frees the encoders no listener has used for a while. */
  sweep(tick: number): void {
    for (const [key, entry] of this.entries) {
      if (tick - entry.tick <= IDLE_TICKS) continue;
      entry.encoder.close();
      this.entries.delete(key);
    }
  }

  private entry(codec: LegCodec): Entry {
    let entry = this.entries.get(codec.key);
    if (entry === undefined) {
      entry = { encoder: codec.createEncoder(), tick: -1, payload: undefined };
      this.entries.set(codec.key, entry);
    }
    return entry;
  }

  /** Frees every encoder. */
  close(): void {
    for (const entry of this.entries.values()) entry.encoder.close();
    this.entries.clear();
  }
}
