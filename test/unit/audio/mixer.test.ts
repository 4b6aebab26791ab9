import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import { mixFor, mixFrames } from '../../../src/media/audio/mixer.js';
import { sine, toneLevel } from '../../support/tone.js';

const AMPLITUDE = 6000;
const frames = new Map<string, Int16Array | undefined>([
  ['a', sine(440, AMPLITUDE, FRAME_SAMPLES)],
  ['b', sine(880, AMPLITUDE, FRAME_SAMPLES)],
  ['c', sine(1320, AMPLITUDE, FRAME_SAMPLES)],
]);
const FREQ = { a: 440, b: 880, c: 1320 } as const;

/** Which of the three tones a leg hears. */
function heard(out: Int16Array): string[] {
  return Object.entries(FREQ)
    .filter(([, f]) => toneLevel(out, f) > 0.9 * AMPLITUDE)
    .map(([id]) => id);
}

/** Checks that each tone is either fully present or practically absent, nothing in between. */
function expectClean(out: Int16Array): void {
  for (const f of Object.values(FREQ)) {
    const level = toneLevel(out, f);
    expect(level < 0.01 * AMPLITUDE || level > 0.9 * AMPLITUDE).toBe(true);
  }
}

describe('mixer', () => {
  it('gives each leg everyone but itself', () => {
    const { total, contributors } = mixFrames(frames, () => true);
    expect(contributors).toBe(3);
    for (const id of ['a', 'b', 'c']) {
      const out = mixFor(total, frames.get(id), true);
      expectClean(out);
      expect(heard(out)).toEqual(['a', 'b', 'c'].filter((x) => x !== id));
    }
  });

  it('leaves a muted input out of every mix, while that leg still hears the others', () => {
    const contributes = (id: string) => id !== 'c';
    const { total, contributors } = mixFrames(frames, contributes);
    expect(contributors).toBe(2);
    expect(heard(mixFor(total, frames.get('a'), contributes('a')))).toEqual(['b']);
    expect(heard(mixFor(total, frames.get('b'), contributes('b')))).toEqual(['a']);
    const cOut = mixFor(total, frames.get('c'), contributes('c'));
    expectClean(cOut);
    expect(heard(cOut)).toEqual(['a', 'b']);
  });

  it('skips inputs with nothing to play this tick', () => {
    const withSilent = new Map(frames).set('b', undefined);
    const { total, contributors } = mixFrames(withSilent, () => true);
    expect(contributors).toBe(2);
    expect(heard(mixFor(total, undefined, true))).toEqual(['a', 'c']);
    expect(heard(mixFor(total, withSilent.get('a'), true))).toEqual(['c']);
  });

  it('gives silence when nobody contributes', () => {
    const { total, contributors } = mixFrames(frames, () => false);
    expect(contributors).toBe(0);
    expect(mixFor(total, frames.get('a'), false).every((s) => s === 0)).toBe(true);
  });

  it('saturates at the 16-bit limits instead of wrapping, and subtracts exactly from the unsaturated sum', () => {
    const loud = new Map<string, Int16Array | undefined>([
      ['p', new Int16Array(FRAME_SAMPLES).fill(30000)],
      ['q', new Int16Array(FRAME_SAMPLES).fill(30000)],
      ['m', new Int16Array(FRAME_SAMPLES).fill(-30000)],
      ['n', new Int16Array(FRAME_SAMPLES).fill(-30000)],
    ]);
    const pos = mixFrames(new Map([...loud].filter(([id]) => id === 'p' || id === 'q')), () => true);
    expect(mixFor(pos.total, undefined, false).every((s) => s === 32767)).toBe(true);
    expect(mixFor(pos.total, loud.get('p'), true).every((s) => s === 30000)).toBe(true);
    const neg = mixFrames(new Map([...loud].filter(([id]) => id === 'm' || id === 'n')), () => true);
    expect(mixFor(neg.total, undefined, false).every((s) => s === -32768)).toBe(true);
    const extremes = new Map([
      ['hi', new Int16Array(FRAME_SAMPLES).fill(32767)],
      ['lo', new Int16Array(FRAME_SAMPLES).fill(-32768)],
    ]);
    const all = mixFrames(extremes, () => true);
    expect(mixFor(all.total, extremes.get('hi'), true).every((s) => s === -32768)).toBe(true);
    expect(mixFor(all.total, extremes.get('lo'), true).every((s) => s === 32767)).toBe(true);
  });

  it('reuses the buffers it is given, clearing the total each tick', () => {
    const total = new Int32Array(FRAME_SAMPLES);
    const out = new Int16Array(FRAME_SAMPLES);
    const first = mixFrames(frames, () => true, total);
    expect(first.total).toBe(total);
    expect(mixFor(total, frames.get('a'), true, out)).toBe(out);
    mixFrames(new Map([['b', frames.get('b')]]), () => true, total);
    expect(heard(mixFor(total, undefined, false, out))).toEqual(['b']);
  });

  it('rejects frames of the wrong length', () => {
    expect(() => mixFrames(new Map([['x', new Int16Array(480)]]), () => true)).toThrow(RangeError);
    const { total } = mixFrames(frames, () => true);
    expect(() => mixFor(total, new Int16Array(10), true)).toThrow(RangeError);
    expect(() => mixFor(total, undefined, false, new Int16Array(10))).toThrow(RangeError);
  });
});
