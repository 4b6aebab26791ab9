/**
 * One encoder per codec key for the mix that every listener outside the mixed set hears: the mix
 * is the same for all of them, so it is encoded once per codec and packet time, not once per leg.
 * The encoders are stateful (Opus, G.722), so each key keeps its own, fed every tick it is used; a
 * listener that moves between its own encoder and the shared one gets frames from a different
 * encoder state, which decoders take as they take any stream (as in other MCUs).
 *
 * An encoder's state is made of what it was fed: Opus carries the last frames' tail (its lookahead)
 * and predictions over into the next packets. So a speaker who has just left the mix (its input ran
 * dry, or a louder leg took its place) would hear its own last words in the shared frames for a
 * tick or two; each key remembers whose voices it was fed, and such a leg keeps its own encoder
 * (on the same mix) until the shared one no longer carries them (`carries()`).
 */
import type { LegCodec, MixEncoder } from './legAudio.js';

/** Ticks a key's encoder may stay unused before it is freed. */
const IDLE_TICKS = 250;
/**
 * Frames of a shared encoder that may still carry a voice it was fed: the frame of that voice and
 * the next ones up to this many in all. Opus's lookahead holds 6.5 ms of the previous frame, and
 * its predictions (band energies, pitch) reach a little further: measured, a tone is heard in the
 * two packets after it, not in the third.
 */
const CARRY_FRAMES = 3;

interface Entry {
  encoder: MixEncoder;
  /** The tick the payload was encoded for. */
  tick: number;
  payload: Buffer | undefined;
  /** Frames encoded so far; numbers them. */
  frames: number;
  /** The legs whose voices went into its last frames, with the number of the last frame each did. */
  fed: Map<string, number>;
}

/** The shared encoders of one bridge. */
export class SharedEncoders {
  private readonly entries = new Map<string, Entry>();
  /** Frames encoded so far, all keys together. */
  encoded = 0;

  /**
   * This tick's `mix` (48 kHz) in `codec`, encoded on the first call of the tick and handed out to
   * every later one; `voices`: the legs whose audio is in it.
   */
  encode(codec: LegCodec, mix: Int16Array, tick: number, voices: readonly { id: string }[]): Buffer {
    const entry = this.entry(codec);
    if (entry.tick !== tick || entry.payload === undefined) {
      entry.payload = entry.encoder.encode(mix);
      this.fed(entry, tick, voices);
      this.encoded++;
    }
    return entry.payload;
  }

  /**
   * The same for a mix at the codec's own rate (`codec.nativeRate`), with no resampling; undefined
   * when its encoder takes only 48 kHz. A tick's listeners of one key all take one path or the other.
   */
  encodeNative(codec: LegCodec, pcm: Int16Array, tick: number, voices: readonly { id: string }[]): Buffer | undefined {
    const entry = this.entry(codec);
    if (entry.encoder.encodeNative === undefined) return undefined;
    if (entry.tick !== tick || entry.payload === undefined) {
      entry.payload = entry.encoder.encodeNative(pcm);
      this.fed(entry, tick, voices);
      this.encoded++;
    }
    return entry.payload;
  }

  /**
   * Whether the key's frame of this tick may carry `legId`'s voice, fed to it in one of its last
   * frames: that leg must not be sent it. The same before this tick's frame is encoded and after.
   */
  carries(codec: LegCodec, legId: string, tick: number): boolean {
    const entry = this.entries.get(codec.key);
    const last = entry?.fed.get(legId);
    if (entry === undefined || last === undefined) return false;
    const frame = entry.tick === tick && entry.payload !== undefined ? entry.frames : entry.frames + 1;
    return frame - last < CARRY_FRAMES;
  }

  /** Frees the encoders no listener has used for a while. */
  sweep(tick: number): void {
    for (const [key, entry] of this.entries) {
      if (tick - entry.tick <= IDLE_TICKS) continue;
      entry.encoder.close();
      this.entries.delete(key);
    }
  }

  private fed(entry: Entry, tick: number, voices: readonly { id: string }[]): void {
    entry.tick = tick;
    const frame = ++entry.frames;
    const fed = entry.fed;
    for (const [id, last] of fed) if (frame - last >= CARRY_FRAMES) fed.delete(id);
    for (const voice of voices) fed.set(voice.id, frame);
  }

  private entry(codec: LegCodec): Entry {
    let entry = this.entries.get(codec.key);
    if (entry === undefined) {
      entry = { encoder: codec.createEncoder(), tick: -1, payload: undefined, frames: 0, fed: new Map() };
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
