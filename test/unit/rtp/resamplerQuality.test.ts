import { describe, expect, it } from 'vitest';
import { inFrames } from '../../support/frames.js';
import { Downsampler, Upsampler, type ResampleRatio } from '../../../src/media/rtp/resampler.js';
import { sine, toneLevel } from '../../support/tone.js';

/**
 * The converters' filter, measured the way a listener meets it: real tones through consecutive
 * 20 ms frames, each component's level read with a Goertzel filter. The reference figures were
 * measured with this same method on the previous implementation (one output at a time over every
 * tap, before the four-at-a-time symmetric form): a faster converter must not be a worse one.
 */

const db = (ratio: number): number => 20 * Math.log10(ratio);
const AMPLITUDE = 20_000;
const FRAMES = 15;
/** Frames left out at the start, while the filter fills. */
const SETTLE = 5;

interface Band {
  ratio: ResampleRatio;
  /** The codec's rate. */
  low: number;
  /** Tones from 100 Hz up to here must pass flat. */
  passTop: number;
  /** Tones at 48 kHz from here up must not fold into the band. */
  stopFrom: number;
}

/** Figures of the previous implementation (dB): passband ripple (max − min gain), worst image, worst alias. */
interface Figures {
  upRipple: number;
  worstImage: number;
  downRipple: number;
  worstAlias: number;
}

const NARROW: Band = { ratio: 6, low: 8000, passTop: 3000, stopFrom: 4600 };
const WIDE: Band = { ratio: 3, low: 16_000, passTop: 6000, stopFrom: 9200 };
const BEFORE: Record<ResampleRatio, Figures> = {
  6: { upRipple: 0.0033, worstImage: -76.63, downRipple: 0.0034, worstAlias: -73.8 },
  3: { upRipple: 0.0037, worstImage: -76.07, downRipple: 0.0037, worstAlias: -74.01 },
};

/** Gain (dB) of each passband tone up, and the loudest image (relative to the tone) any of them leaves in the 48 kHz output. */
function measureUp(band: Band): { gains: number[]; worstImage: number } {
  const frame = band.low / 50;
  const gains: number[] = [];
  let worstImage = -Infinity;
  for (let f = 100; f <= band.passTop; f += 100) {
    const up = new Upsampler(band.ratio);
    const out = inFrames(sine(f, AMPLITUDE, frame * FRAMES, band.low), frame, (x) => up.process(x)).subarray(960 * SETTLE);
    gains.push(db(toneLevel(out, f) / AMPLITUDE));
    // Zero-stuffing puts copies of f around every multiple of the low rate; the filter must take them out.
    for (let k = 1; k * band.low - f < 24_000; k++) {
      for (const image of [k * band.low - f, k * band.low + f]) {
        if (image < 24_000) worstImage = Math.max(worstImage, db(toneLevel(out, image) / AMPLITUDE));
      }
    }
  }
  return { gains, worstImage };
}

/** Gain (dB) of each passband tone down, and the loudest alias a 48 kHz tone above the band leaves in it. */
function measureDown(band: Band): { gains: number[]; worstAlias: number } {
  const frame = band.low / 50;
  const gains: number[] = [];
  for (let f = 100; f <= band.passTop; f += 100) {
    const down = new Downsampler(band.ratio);
    const out = inFrames(sine(f, AMPLITUDE, 960 * FRAMES), 960, (x) => down.process(x)).subarray(frame * SETTLE);
    gains.push(db(toneLevel(out, f, band.low) / AMPLITUDE));
  }
  let worstAlias = -Infinity;
  for (let f = band.stopFrom; f < 24_000; f += band.ratio === 6 ? 100 : 200) {
    // Where f folds to at the low rate.
    const folded = f % band.low;
    const alias = folded > band.low / 2 ? band.low - folded : folded;
    const down = new Downsampler(band.ratio);
    const out = inFrames(sine(f, AMPLITUDE, 960 * FRAMES), 960, (x) => down.process(x)).subarray(frame * SETTLE);
    worstAlias = Math.max(worstAlias, db(toneLevel(out, alias, band.low) / AMPLITUDE));
  }
  return { gains, worstAlias };
}

const ripple = (gains: readonly number[]): number => Math.max(...gains) - Math.min(...gains);

describe.each([
  ['narrow band (8 ↔ 48 kHz, G.711)', NARROW],
  ['wide band (16 ↔ 48 kHz, G.722)', WIDE],
] as const)('resampler quality, %s', (_name, band) => {
  const before = BEFORE[band.ratio];

  it(`up: flat from 100 Hz to ${band.passTop} Hz, images at least as far down as before`, () => {
    const { gains, worstImage } = measureUp(band);
    for (const gain of gains) expect(Math.abs(gain)).toBeLessThan(0.01);
    expect(ripple(gains)).toBeLessThanOrEqual(before.upRipple + 0.001);
    expect(worstImage).toBeLessThanOrEqual(before.worstImage + 0.5);
    expect(worstImage).toBeLessThan(-70);
  });

  it(`down: flat from 100 Hz to ${band.passTop} Hz, tones from ${band.stopFrom} Hz folded in at least as far down as before`, () => {
    const { gains, worstAlias } = measureDown(band);
    for (const gain of gains) expect(Math.abs(gain)).toBeLessThan(0.01);
    expect(ripple(gains)).toBeLessThanOrEqual(before.downRipple + 0.001);
    expect(worstAlias).toBeLessThanOrEqual(before.worstAlias + 0.5);
    expect(worstAlias).toBeLessThan(-70);
  });

  it('converts frames of any length (the four-at-a-time loops and their remainders) as one continuous stream', () => {
    const frame = band.low / 50;
    const signal = sine(1000, AMPLITUDE, frame * 6, band.low);
    const whole = new Upsampler(band.ratio).process(signal);
    const up = new Upsampler(band.ratio);
    // Lengths that leave 1, 2 and 3 samples over a multiple of four.
    const pieces = inFrames(signal, 7, (x) => up.process(x));
    expect(Array.from(pieces)).toEqual(Array.from(whole));
    const wide = sine(1000, AMPLITUDE, 960 * 4);
    const once = new Downsampler(band.ratio).process(wide);
    const down = new Downsampler(band.ratio);
    const parts = inFrames(wide, band.ratio * 5, (x) => down.process(x));
    expect(Array.from(parts)).toEqual(Array.from(once));
  });
});

describe('Downsampler.skipLow: frames that went out at the low rate without it', () => {
  it('picks up after them with no gap: the tone goes on at its level through the first converted frame', () => {
    const band = NARROW;
    const down = new Downsampler(band.ratio);
    const low: number[] = [];
    const frames = 20;
    const wide = sine(700, AMPLITUDE, 960 * frames);
    const narrow = sine(700, AMPLITUDE, 160 * frames, 8000);
    for (let t = 0; t < frames; t++) {
      // Ten frames at the low rate as they are (a mix summed there), then through the filter again.
      if (t < 10) {
        const frame = narrow.subarray(t * 160, (t + 1) * 160);
        down.skipLow(frame);
        low.push(...frame);
      } else {
        low.push(...down.process(wide.subarray(t * 960, (t + 1) * 960)));
      }
    }
    // The first converted frame, in 5 ms windows: no dip where the filter would have started from nothing.
    for (let at = 10 * 160; at + 40 <= 12 * 160; at += 40) {
      expect(Math.abs(db(toneLevel(low.slice(at, at + 40), 700, 8000) / AMPLITUDE))).toBeLessThan(1);
    }
  });

  it('a filter that starts from nothing (reset) dips at its first frame: what skipLow spares', () => {
    const down = new Downsampler(6);
    down.reset();
    const out = down.process(sine(700, AMPLITUDE, 960));
    expect(db(toneLevel(Array.from(out.subarray(0, 40)), 700, 8000) / AMPLITUDE)).toBeLessThan(-1);
  });
});
