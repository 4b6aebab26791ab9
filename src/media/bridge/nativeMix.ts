/**
 * The mix at a SIP codec's own rate (G.711's 8 kHz, G.722's 16 kHz) for the legs that send that
 * codec. The speakers whose input is at that rate (`LegAudio.nativeRate`) are summed there as they
 * came; only what is not (WebRTC speakers, speakers of the other rate, what plays to everyone) is
 * summed at 48 kHz and brought down, once per tick for every leg of that rate. A conference of
 * G.711 legs therefore resamples nothing at all, where each speaker used to be brought up to
 * 48 kHz and every mix back down: nearly all of its time. What the direct path leaves out is only
 * the filters' band edge (flat to 3 kHz either way) and their 3 ms of delay; a listener that hears
 * one speaker alone gets exactly that speaker's codes, as when its packets are forwarded, so going
 * between forwarding and mixing changes nothing but the sum. The 48 kHz part's filter only ever
 * sees that part (silence when there is none), so speakers coming and going need no care.
 */
import { FRAME_MS, FRAME_SAMPLES } from '../audio/frame.js';
import { addInto } from '../audio/mixer.js';
import { Downsampler, type ResampleRatio } from '../rtp/resampler.js';
import type { BridgeLeg } from './bridgeLeg.js';
import { saturate } from './sources.js';

/** The rates a mix may be summed at below the bridge's own, and the factor down to each. */
const RATIOS = new Map<number, ResampleRatio>([
  [8000, 6],
  [16_000, 3],
]);

/** One rate's mix of one bridge, rebuilt on first use in a tick; its buffers are reused. */
class RateMix {
  readonly samples: number;
  /** The voices at this rate as they came, plus the 48 kHz part brought down. */
  readonly total: Int32Array;
  readonly mix: Int16Array;
  readonly own: Int16Array;
  /** The voices summed into `total` at this rate, with their frames. */
  readonly voices: BridgeLeg[] = [];
  readonly frames: Int16Array[] = [];
  private readonly down: Downsampler;
  private readonly wide = new Int32Array(FRAME_SAMPLES);
  private readonly widePcm = new Int16Array(FRAME_SAMPLES);
  private readonly low: Int16Array;
  /** The last tick put something through the filter: its memory is not silence yet. */
  private wideBefore = false;
  round = -1;

  constructor(
    readonly rate: number,
    ratio: ResampleRatio,
  ) {
    this.samples = (rate * FRAME_MS) / 1000;
    this.total = new Int32Array(this.samples);
    this.mix = new Int16Array(this.samples);
    this.own = new Int16Array(this.samples);
    this.low = new Int16Array(this.samples);
    this.down = new Downsampler(ratio);
  }

  /**
   * Sums this tick's voices and `players` (48 kHz, what plays to everyone) for legs of this rate;
   * `continuous`: it was built last tick too (else what its filter remembers is stale).
   */
  build(voices: readonly BridgeLeg[], players: Int32Array | undefined, continuous: boolean): void {
    if (!continuous && this.wideBefore) {
      this.down.reset();
      this.wideBefore = false;
    }
    const total = this.total;
    total.fill(0);
    this.voices.length = 0;
    this.frames.length = 0;
    let wide = players !== undefined;
    if (players !== undefined) this.wide.set(players);
    else this.wide.fill(0);
    for (const voice of voices) {
      const frame = voice.nativeRate === this.rate ? voice.nativeFrame() : undefined;
      if (frame?.length === this.samples) {
        for (let i = 0; i < frame.length; i++) total[i] = (total[i] ?? 0) + (frame[i] ?? 0);
        this.voices.push(voice);
        this.frames.push(frame);
        continue;
      }
      const frame48 = voice.contribution();
      if (frame48 === undefined) continue;
      addInto(this.wide, frame48);
      wide = true;
    }
    // One tick of silence through the filter empties its memory; after that it may rest.
    if (wide || this.wideBefore) {
      const low = this.down.process(saturate(this.wide, this.widePcm), this.low);
      for (let i = 0; i < low.length; i++) total[i] = (total[i] ?? 0) + (low[i] ?? 0);
    }
    this.wideBefore = wide;
    saturate(total, this.mix);
  }

  /** The mix without `leg`'s own voice (which went in at this rate). */
  without(leg: BridgeLeg): Int16Array {
    const own = this.frames[this.voices.indexOf(leg)];
    if (own === undefined) return this.mix;
    const total = this.total;
    const out = this.own;
    for (let i = 0; i < out.length; i++) {
      const v = (total[i] ?? 0) - (own[i] ?? 0);
      out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
    return out;
  }
}

/** The mixes at the SIP codecs' rates of one bridge. */
export class NativeMix {
  private readonly mixes = new Map<number, RateMix>();
  private voices: readonly BridgeLeg[] = [];
  private players: Int32Array | undefined;
  private round = 0;

  /** Whether legs sending at `rate` can be given a mix at it. */
  static supports(rate: number | undefined): rate is number {
    return rate !== undefined && RATIOS.has(rate);
  }

  /** Starts a tick: the voices mixed, and what plays to everyone (48 kHz) when anything does. */
  begin(voices: readonly BridgeLeg[], players: Int32Array | undefined, round: number): void {
    this.voices = voices;
    this.players = players;
    this.round = round;
  }

  /** What a listener of this rate outside the mixed set hears. Valid until the next tick. */
  shared(rate: number): Int16Array {
    return this.at(rate).mix;
  }

  /** What a mixed speaker whose voice is at this rate hears (everything but itself). Valid until the next call. */
  without(leg: BridgeLeg, rate: number): Int16Array {
    return this.at(rate).without(leg);
  }

  private at(rate: number): RateMix {
    let mix = this.mixes.get(rate);
    if (mix === undefined) {
      mix = new RateMix(rate, RATIOS.get(rate) ?? 6);
      this.mixes.set(rate, mix);
    }
    if (mix.round !== this.round) {
      mix.build(this.voices, this.players, mix.round === this.round - 1);
      mix.round = this.round;
    }
    return mix;
  }
}
