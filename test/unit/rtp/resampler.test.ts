import { describe, expect, it } from 'vitest';
import { inFrames } from '../../support/frames.js';
import { Downsampler, Upsampler } from '../../../src/media/rtp/resampler.js';
import { sine, toneLevel } from '../../support/tone.js';

const db = (ratio: number): number => 20 * Math.log10(ratio);
/** The filter's delay, in 48 kHz samples. */
const DELAY = 71;

describe('Downsampler (48 → 8 kHz)', () => {
  it('passes 1 kHz at its level', () => {
    const down = new Downsampler();
    const out = inFrames(sine(1000, 10000, 960 * 10), 960, (f) => down.process(f));
    expect(out).toHaveLength(1600);
    expect(Math.abs(db(toneLevel(out.subarray(160), 1000, 8000) / 10000))).toBeLessThan(0.2);
  });

  it('removes a 6 kHz tone instead of folding it to 2 kHz (more than 30 dB down)', () => {
    const down = new Downsampler();
    const out = inFrames(sine(6000, 10000, 960 * 10), 960, (f) => down.process(f));
    const alias = toneLevel(out.subarray(160), 2000, 8000);
    expect(db(alias / 10000)).toBeLessThan(-30);
  });

  it('joins consecutive frames without a step: the output is the tone, delayed by the filter', () => {
    const down = new Downsampler();
    const out = inFrames(sine(1000, 10000, 960 * 10), 960, (f) => down.process(f));
    // Output m lines up with input 6m+5, delayed by 71.
    for (let m = 40; m < out.length; m++) {
      const expected = 10000 * Math.sin((2 * Math.PI * 1000 * (6 * m + 5 - DELAY)) / 48000);
      expect(Math.abs((out[m] ?? 0) - expected)).toBeLessThan(50);
    }
  });

  it('refuses input that is not a multiple of six samples', () => {
    expect(() => new Downsampler().process(new Int16Array(7))).toThrow(RangeError);
  });
});

describe('Upsampler (8 → 48 kHz)', () => {
  it('joins consecutive frames without a step, with no image at 7 kHz', () => {
    const up = new Upsampler();
    const out = inFrames(sine(1000, 10000, 160 * 10, 8000), 160, (f) => up.process(f));
    expect(out).toHaveLength(9600);
    for (let n = 960; n < out.length; n++) {
      const expected = 10000 * Math.sin((2 * Math.PI * 1000 * (n - DELAY)) / 48000);
      expect(Math.abs((out[n] ?? 0) - expected)).toBeLessThan(50);
    }
    expect(db(toneLevel(out.subarray(960), 7000) / 10000)).toBeLessThan(-60);
    expect(db(toneLevel(out.subarray(960), 9000) / 10000)).toBeLessThan(-60);
  });

  it('keeps a stream of its own: two upsamplers do not share state, and reset forgets', () => {
    const a = new Upsampler();
    const b = new Upsampler();
    a.process(sine(1000, 10000, 160, 8000));
    const silence = new Int16Array(160);
    expect(b.process(silence).every((x) => x === 0)).toBe(true);
    expect(a.process(silence).some((x) => x !== 0)).toBe(true);
    a.reset();
    expect(a.process(silence).every((x) => x === 0)).toBe(true);
  });

  it('round-trips with the Downsampler at the tone’s level', () => {
    const up = new Upsampler();
    const down = new Downsampler();
    const out = inFrames(sine(1000, 10000, 160 * 10, 8000), 160, (f) => down.process(up.process(f)));
    expect(Math.abs(db(toneLevel(out.subarray(320), 1000, 8000) / 10000))).toBeLessThan(0.2);
  });
});

describe('wide band (16 ↔ 48 kHz, ratio 3, for G.722)', () => {
  it('passes 6 kHz, which narrow band would cut, at its level both ways', () => {
    const down = new Downsampler(3);
    const out = inFrames(sine(6000, 10000, 960 * 10), 960, (f) => down.process(f));
    expect(out).toHaveLength(3200);
    expect(Math.abs(db(toneLevel(out.subarray(320), 6000, 16_000) / 10000))).toBeLessThan(0.3);
    const up = new Upsampler(3);
    const back = inFrames(out, 320, (f) => up.process(f));
    expect(Math.abs(db(toneLevel(back.subarray(1920), 6000) / 10000))).toBeLessThan(0.5);
  });

  it('removes a 10 kHz tone instead of folding it to 6 kHz, and leaves no image at 42 kHz − f', () => {
    const down = new Downsampler(3);
    const out = inFrames(sine(10_000, 10000, 960 * 10), 960, (f) => down.process(f));
    expect(db(toneLevel(out.subarray(320), 6000, 16_000) / 10000)).toBeLessThan(-30);
    const up = new Upsampler(3);
    const high = inFrames(sine(1000, 10000, 320 * 10, 16_000), 320, (f) => up.process(f));
    // The first image of 1 kHz at 16 kHz is at 15 kHz.
    expect(db(toneLevel(high.subarray(1920), 15_000) / 10000)).toBeLessThan(-50);
  });
});
