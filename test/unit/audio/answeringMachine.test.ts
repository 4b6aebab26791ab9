import { describe, expect, it } from 'vitest';
import { AnsweringMachineDetector } from '../../../src/media/audio/answeringMachine.js';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import { sine } from '../../support/tone.js';

const voiced = sine(300, 3000, FRAME_SAMPLES);
const silent = new Int16Array(FRAME_SAMPLES);

/** Feeds a pattern of [voiced?, milliseconds] runs; returns the verdict and when it came. */
function run(pattern: [boolean, number][]): { type: string; atMs: number } | undefined {
  const amd = new AnsweringMachineDetector();
  let at = 0;
  for (const [speech, ms] of pattern) {
    for (let t = 0; t < ms; t += 20) {
      at += 20;
      const verdict = amd.feed(speech ? voiced : silent);
      if (verdict) return { type: verdict.type, atMs: at };
    }
  }
  return undefined;
}

describe('answering-machine detection', () => {
  it('a short "hello" then silence is a human, decided by the silence after it', () => {
    expect(
      run([
        [false, 400],
        [true, 500],
        [false, 2000],
      ]),
    ).toEqual({ type: 'human', atMs: 400 + 500 + 820 });
  });

  it('a long uninterrupted greeting is a machine', () => {
    expect(
      run([
        [false, 300],
        [true, 4000],
      ]),
    ).toMatchObject({ type: 'machine' });
  });

  it('many words with short pauses are a machine even before the greeting is long', () => {
    const words: [boolean, number][] = [];
    for (let i = 0; i < 5; i++) words.push([true, 200], [false, 100]);
    expect(run(words)?.type).toBe('machine');
  });

  it('long silence before anything is said is a machine (waiting to record)', () => {
    expect(run([[false, 3000]])).toEqual({ type: 'machine', atMs: 2520 });
  });

  it('a single click does not count as a word, and an undecided call ends unknown', () => {
    const pattern: [boolean, number][] = [
      [false, 1000],
      [true, 40],
      [false, 1000],
    ];
    for (let i = 0; i < 10; i++) pattern.push([true, 200], [false, 700]);
    // Two-word bursts separated by 700 ms: never 3 words in one greeting, never 800 ms of silence.
    const amd = new AnsweringMachineDetector({ maximumNumberOfWords: 100, greeting: 100_000 });
    let verdict;
    for (const [speech, ms] of pattern) for (let t = 0; t < ms && !verdict; t += 20) verdict = amd.feed(speech ? voiced : silent);
    expect(verdict?.type).toBe('unknown');
  });
});
