/**
 * In-band DTMF: key presses heard as tone pairs in decoded audio, for callers whose trunk or phone
 * sends no RFC 4733 events. Runs on 8 kHz audio, which is what a SIP leg decodes to before
 * upsampling (a 48 kHz stream would go through a `Downsampler` first): DTMF lives below 1.7 kHz,
 * and at 8 kHz each Goertzel filter costs a sixth of what it would at 48 kHz.
 *
 * The audio is cut into blocks of 102 samples (12.75 ms, as in Asterisk's detector): long enough to
 * tell neighbouring DTMF frequencies apart (each leaks at most −15 dB into the next), short enough
 * to time presses to about one block. A block is a hit for a key when all of these hold:
 * - both tones of the key are above a level threshold;
 * - twist within limits: the low (row) tone at most 8 dB above the high (column) tone — "normal"
 *   twist, in Asterisk's naming — and the high tone at most 4 dB above the low one ("reverse");
 * - each of the two is the strongest of its group by a clear margin;
 * - the two tones carry most of the block's power, which speech, music and noise do not.
 * A press starts after two consecutive hits of the same key (25.5 ms of tone; any tone of 40 ms or
 * more holds two whole blocks, shorter than 25 ms never does) and ends after three blocks (38 ms)
 * without it; that pause is also what lets the same key count again.
 */
import type { DtmfPress } from './dtmf.js';

export const INBAND_SAMPLE_RATE = 8000;
const BLOCK = 102;
const BLOCK_MS = (BLOCK * 1000) / INBAND_SAMPLE_RATE;

const ROWS = [697, 770, 852, 941] as const;
const COLUMNS = [1209, 1336, 1477, 1633] as const;
const KEYPAD = ['123A', '456B', '789C', '*0#D'] as const;
const COEFFICIENTS = [...ROWS, ...COLUMNS].map((f) => 2 * Math.cos((2 * Math.PI * f) / INBAND_SAMPLE_RATE));

export interface InbandDtmfOptions {
  /** Each tone's minimum level, in dB relative to a full-scale sine. */
  minLevelDbfs?: number;
  /** How far the low tone may be above the high one. */
  normalTwistDb?: number;
  /** How far the high tone may be above the low one. */
  reverseTwistDb?: number;
  /** How far each tone must stand above every other frequency of its group. */
  relativePeakDb?: number;
  /** Least share of the block's power the two tones must carry (0-1). */
  minPurity?: number;
  /** Consecutive hit blocks that start a press. */
  hitsToBegin?: number;
  /** Blocks without the key that end a press. */
  missesToEnd?: number;
}

const dbToPower = (db: number): number => 10 ** (db / 10);

interface Press {
  digit: string;
  firstBlock: number;
  lastHitBlock: number;
  misses: number;
}

/** Goertzel DTMF detector for one 8 kHz stream; reports each press once, when it ends. */
export class InbandDtmfDetector {
  private readonly minPower: number;
  private readonly normalTwist: number;
  private readonly reverseTwist: number;
  private readonly relativePeak: number;
  private readonly minPurity: number;
  private readonly hitsToBegin: number;
  private readonly missesToEnd: number;
  private readonly block = new Float64Array(BLOCK);
  private readonly power = new Float64Array(8);
  private filled = 0;
  private blockIndex = 0;
  private press: Press | undefined;
  private run: { digit: string; count: number } | undefined;

  constructor(options: InbandDtmfOptions = {}) {
    // Powers below are sine amplitudes squared; a full-scale sine has amplitude 32768.
    this.minPower = (32768 * 10 ** ((options.minLevelDbfs ?? -36) / 20)) ** 2;
    this.normalTwist = dbToPower(options.normalTwistDb ?? 8);
    this.reverseTwist = dbToPower(options.reverseTwistDb ?? 4);
    this.relativePeak = dbToPower(options.relativePeakDb ?? 8);
    this.minPurity = options.minPurity ?? 0.6;
    this.hitsToBegin = Math.max(1, options.hitsToBegin ?? 2);
    this.missesToEnd = Math.max(1, options.missesToEnd ?? 3);
  }

  /** Feeds 8 kHz samples (any length, in order); returns the presses that ended in them. */
  push(samples: Int16Array): DtmfPress[] {
    const reports: DtmfPress[] = [];
    for (const sample of samples) {
      this.block[this.filled++] = sample;
      if (this.filled === BLOCK) {
        this.filled = 0;
        this.step(this.classify(), reports);
      }
    }
    return reports;
  }

  /** Ends a press in progress (the stream stopped); returns it if there was one. */
  flush(): DtmfPress | undefined {
    const press = this.press;
    this.press = undefined;
    this.run = undefined;
    this.filled = 0;
    return press && this.report(press);
  }

  /** The key this block holds, if it passes every test. */
  private classify(): string | undefined {
    let total = 0;
    for (const x of this.block) total += x * x;
    // Mean square of the block; a sine of amplitude A has A²/2.
    const meanSquare = total / BLOCK;
    if (meanSquare === 0) return undefined;

    for (let f = 0; f < COEFFICIENTS.length; f++) {
      const coeff = COEFFICIENTS[f] ?? 0;
      let s1 = 0;
      let s2 = 0;
      for (const x of this.block) {
        const s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      // |X(f)|² = s1² + s2² − coeff·s1·s2, and a sine of amplitude A gives |X| ≈ A·N/2.
      const magnitude2 = s1 * s1 + s2 * s2 - coeff * s1 * s2;
      this.power[f] = (4 * Math.max(0, magnitude2)) / (BLOCK * BLOCK);
    }

    const row = this.strongest(0);
    const column = this.strongest(4);
    const rowPower = this.power[row] ?? 0;
    const columnPower = this.power[4 + column] ?? 0;
    if (rowPower < this.minPower || columnPower < this.minPower) return undefined;
    if (rowPower > columnPower * this.normalTwist || columnPower > rowPower * this.reverseTwist) return undefined;
    for (let i = 0; i < 4; i++) {
      if (i !== row && (this.power[i] ?? 0) * this.relativePeak > rowPower) return undefined;
      if (i !== column && (this.power[4 + i] ?? 0) * this.relativePeak > columnPower) return undefined;
    }
    if ((rowPower + columnPower) / 2 < this.minPurity * meanSquare) return undefined;
    return KEYPAD[row]?.[column];
  }

  private strongest(from: number): number {
    let best = 0;
    for (let i = 1; i < 4; i++) if ((this.power[from + i] ?? 0) > (this.power[from + best] ?? 0)) best = i;
    return best;
  }

  private step(hit: string | undefined, reports: DtmfPress[]): void {
    const index = this.blockIndex++;
    const press = this.press;
    if (press !== undefined) {
      if (hit === press.digit) {
        press.lastHitBlock = index;
        press.misses = 0;
      } else if (++press.misses >= this.missesToEnd) {
        reports.push(this.report(press));
        this.press = undefined;
      }
    }

    this.run = hit === undefined ? undefined : hit === this.run?.digit ? { digit: hit, count: this.run.count + 1 } : { digit: hit, count: 1 };
    // While a press lasts, hits of its own key extend it; another key (no pause between) can
    // only start once the press has ended, and the same key only after a new run of hits.
    if (this.press === undefined && this.run !== undefined && this.run.count >= this.hitsToBegin) {
      this.press = { digit: this.run.digit, firstBlock: index - this.run.count + 1, lastHitBlock: index, misses: 0 };
    }
  }

  private report(press: Press): DtmfPress {
    // The blocks at either edge hold tone and silence, and pass only when mostly tone, so the
    // hits undercount a tone by about half a block on average.
    return { digit: press.digit, durationMs: Math.round((press.lastHitBlock - press.firstBlock + 1.5) * BLOCK_MS) };
  }
}
