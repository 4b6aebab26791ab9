import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import { frameDbfs, SpeakingDetector } from '../../../src/media/audio/speakingDetector.js';
import { sine } from '../../support/tone.js';

const speech = sine(440, 3000, FRAME_SAMPLES); // about -24 dBFS
const murmur = sine(440, 146, FRAME_SAMPLES); // about -50 dBFS: between the thresholds
const zeros = new Int16Array(FRAME_SAMPLES);

/** Feeds frames and returns what each update said. */
function feed(d: SpeakingDetector, frame: Int16Array | undefined, count: number): ('on' | 'off' | undefined)[] {
  return Array.from({ length: count }, () => d.update(frame));
}

/** Indexes (1-based frame counts) at which a change was reported. */
const changes = (results: ('on' | 'off' | undefined)[]) => results.flatMap((r, i) => (r === undefined ? [] : [`${r}@${i + 1}`]));

describe('frameDbfs', () => {
  it('measures RMS relative to full scale', () => {
    expect(frameDbfs(sine(440, 32767, FRAME_SAMPLES))).toBeCloseTo(-3.01, 1);
    expect(frameDbfs(speech)).toBeCloseTo(-23.8, 0);
    expect(frameDbfs(murmur)).toBeCloseTo(-50, 0);
    expect(frameDbfs(zeros)).toBe(-Infinity);
    expect(frameDbfs(undefined)).toBe(-Infinity);
  });
});

describe('SpeakingDetector', () => {
  it('turns on after three loud frames, holds through a short pause, and turns off after 400 ms of quiet', () => {
    const d = new SpeakingDetector();
    expect(changes(feed(d, undefined, 10))).toEqual([]);
    expect(changes(feed(d, zeros, 10))).toEqual([]);
    expect(changes(feed(d, speech, 5))).toEqual(['on@3']);
    expect(d.speaking).toBe(true);
    // A 200 ms pause between words.
    expect(changes(feed(d, undefined, 10))).toEqual([]);
    expect(changes(feed(d, speech, 5))).toEqual([]);
    expect(changes(feed(d, zeros, 25))).toEqual(['off@20']);
    expect(d.speaking).toBe(false);
  });

  it('ignores a click shorter than three frames', () => {
    const d = new SpeakingDetector();
    const results = [...feed(d, speech, 2), ...feed(d, zeros, 1), ...feed(d, speech, 2), ...feed(d, zeros, 5)];
    expect(changes(results)).toEqual([]);
  });

  it('keeps its state while the level sits between the two thresholds', () => {
    const d = new SpeakingDetector();
    expect(changes(feed(d, murmur, 100))).toEqual([]);
    feed(d, speech, 3);
    expect(changes(feed(d, murmur, 100))).toEqual([]);
    expect(d.speaking).toBe(true);
    // Quiet frames interrupted by a murmur restart the hangover.
    expect(changes([...feed(d, zeros, 15), ...feed(d, murmur, 1), ...feed(d, zeros, 20)])).toEqual(['off@36']);
  });

  it('takes its thresholds and timings from options', () => {
    const d = new SpeakingDetector({ onDbfs: -20, offDbfs: -30, onFrames: 1, offFrames: 2 });
    expect(changes(feed(d, speech, 3))).toEqual([]);
    const loud = sine(440, 20000, FRAME_SAMPLES);
    expect(changes([...feed(d, loud, 1), ...feed(d, speech, 2), ...feed(d, murmur, 2)])).toEqual(['on@1', 'off@5']);
  });

  it('resets to not speaking without reporting', () => {
    const d = new SpeakingDetector();
    feed(d, speech, 3);
    d.reset();
    expect(d.speaking).toBe(false);
    expect(changes(feed(d, speech, 3))).toEqual(['on@3']);
  });
});
