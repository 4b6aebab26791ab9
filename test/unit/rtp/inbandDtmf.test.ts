import { describe, expect, it } from 'vitest';
import { dtmfFrequencies, dtmfTones } from '../../../src/media/audio/dtmfTones.js';
import type { DtmfPress } from '../../../src/media/rtp/dtmf.js';
import { decodeG711, encodeG711 } from '../../../src/media/rtp/g711.js';
import { InbandDtmfDetector } from '../../../src/media/rtp/inbandDtmf.js';
import { Downsampler } from '../../../src/media/rtp/resampler.js';
import { sine } from '../../support/tone.js';

const RATE = 8000;
/** Each tone of a key at -16 dBFS, as dtmfTones makes them. */
const AMPLITUDE = 5180;

/** Feeds 8 kHz audio in 20 ms frames, as a call delivers it, then a little silence. */
function detect(samples: Int16Array, detector = new InbandDtmfDetector()): DtmfPress[] {
  const out: DtmfPress[] = [];
  const padded = new Int16Array(samples.length + 800);
  padded.set(samples);
  for (let i = 0; i < padded.length; i += 160) out.push(...detector.push(padded.subarray(i, i + 160)));
  return out;
}

/** A key's two tones at 8 kHz, with levels of their own (amplitudes). */
function chord(key: string, ms: number, low = AMPLITUDE, high = AMPLITUDE): Int16Array {
  const [f1, f2] = dtmfFrequencies(key)!;
  const n = (ms * RATE) / 1000;
  const a = sine(f1, low, n, RATE);
  const b = sine(f2, high, n, RATE);
  return a.map((x, i) => x + (b[i] ?? 0));
}

const silence = (ms: number) => new Int16Array((ms * RATE) / 1000);
const concat = (...parts: Int16Array[]) => {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

/** Deterministic pseudo-random numbers in [-1, 1). */
function noiseSource(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x8000_0000 - 1;
  };
}

describe('InbandDtmfDetector', () => {
  it('detects all 16 keys once each, in order, from 48 kHz tones through downsampling and µ-law', () => {
    const keys = '123A456B789C*0#D';
    const tones = dtmfTones(keys);
    const down = new Downsampler();
    const detector = new InbandDtmfDetector();
    const presses: DtmfPress[] = [];
    for (let i = 0; i + 960 <= tones.length; i += 960) {
      const pcm8 = down.process(tones.subarray(i, i + 960));
      presses.push(...detector.push(decodeG711('PCMU', encodeG711('PCMU', pcm8))));
    }
    expect(presses.map((p) => p.digit).join('')).toBe(keys);
    // 100 ms tones, timed to about one 12.75 ms block.
    for (const p of presses) expect(Math.abs(p.durationMs - 100)).toBeLessThan(15);
  });

  it('reports a key held 500 ms once, with about 500 ms', () => {
    const presses = detect(chord('5', 500));
    expect(presses).toHaveLength(1);
    expect(presses[0]!.digit).toBe('5');
    expect(Math.abs(presses[0]!.durationMs - 500)).toBeLessThan(15);
  });

  it('hears nothing in speech-like sound: a gliding harmonic voice with syllables, over noise', () => {
    const random = noiseSource(7);
    const n = 3 * RATE;
    const voice = new Int16Array(n);
    let phase = 0;
    for (let i = 0; i < n; i++) {
      const t = i / RATE;
      const f0 = 140 + 40 * Math.sin(2 * Math.PI * 0.7 * t);
      phase += (2 * Math.PI * f0) / RATE;
      let v = 0;
      // Harmonics up to 3.4 kHz with a falling spectrum, as voiced speech has.
      for (let h = 1; h * f0 < 3400; h++) v += Math.sin(h * phase) / h;
      const syllable = 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t);
      voice[i] = Math.round(6000 * syllable * v + 300 * random());
    }
    expect(detect(voice)).toEqual([]);
  });

  it('hears nothing in white noise, nor in a single 1 kHz tone, nor in one DTMF tone alone', () => {
    const random = noiseSource(3);
    expect(detect(Int16Array.from({ length: 2 * RATE }, () => Math.round(8000 * random())))).toEqual([]);
    expect(detect(sine(1000, 10000, 2 * RATE, RATE))).toEqual([]);
    expect(detect(sine(697, 10000, RATE, RATE))).toEqual([]);
    expect(detect(sine(1336, 10000, RATE, RATE))).toEqual([]);
  });

  it('rejects chords whose twist is out of bounds, and accepts them within', () => {
    const dB = (x: number) => 10 ** (x / 20);
    // Low tone 10 dB above the high one (normal twist over 8 dB).
    expect(detect(chord('1', 200, AMPLITUDE, AMPLITUDE / dB(10)))).toEqual([]);
    // High tone 6 dB above the low one (reverse twist over 4 dB).
    expect(detect(chord('1', 200, AMPLITUDE / dB(6), AMPLITUDE))).toEqual([]);
    expect(detect(chord('1', 200, AMPLITUDE, AMPLITUDE / dB(6))).map((p) => p.digit)).toEqual(['1']);
    expect(detect(chord('1', 200, AMPLITUDE / dB(3), AMPLITUDE)).map((p) => p.digit)).toEqual(['1']);
  });

  it('rejects a chord too quiet, and a tone too short', () => {
    expect(detect(chord('8', 200, 10, 10))).toEqual([]);
    expect(detect(chord('8', 20))).toEqual([]);
    expect(detect(chord('8', 40)).map((p) => p.digit)).toEqual(['8']);
  });

  it('counts the same key again only after a pause', () => {
    expect(detect(concat(chord('3', 100), silence(60), chord('3', 100))).map((p) => p.digit)).toEqual(['3', '3']);
    // A 15 ms dropout is not a pause: one press.
    const held = detect(concat(chord('3', 100), silence(15), chord('3', 100)));
    expect(held.map((p) => p.digit)).toEqual(['3']);
    // A different key straight after is a new press.
    expect(detect(concat(chord('3', 100), chord('6', 100))).map((p) => p.digit)).toEqual(['3', '6']);
  });

  it('reports a press in progress on flush', () => {
    const detector = new InbandDtmfDetector();
    expect(detector.push(chord('D', 200))).toEqual([]);
    expect(detector.flush()?.digit).toBe('D');
    expect(detector.flush()).toBeUndefined();
  });
});
