import { describe, expect, it } from 'vitest';
import {
  alawToLinear,
  decodeG711,
  encodeG711,
  G711_FRAME_SAMPLES,
  linearToAlaw,
  linearToUlaw,
  ulawToLinear,
  type G711Codec,
} from '../../../src/media/rtp/g711.js';
import { rms, sine, toneLevel } from '../../support/tone.js';

const db = (ratio: number): number => 20 * Math.log10(ratio);

/** Encodes and decodes a signal frame by frame, as a call would. */
function roundTrip(codec: G711Codec, pcm: Int16Array): Int16Array {
  const out = new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i += G711_FRAME_SAMPLES) {
    const frame = pcm.subarray(i, i + G711_FRAME_SAMPLES);
    decodeG711(codec, encodeG711(codec, frame), out.subarray(i, i + frame.length));
  }
  return out;
}

describe('G.711 code points', () => {
  it('codes silence as 0xFF in µ-law and 0xD5 in A-law', () => {
    expect(linearToUlaw(0)).toBe(0xff);
    expect(linearToAlaw(0)).toBe(0xd5);
    expect(ulawToLinear(0xff)).toBe(0);
    // µ-law's "negative zero" decodes to zero too; A-law has no zero, its smallest step is ±8.
    expect(ulawToLinear(0x7f)).toBe(0);
    expect(alawToLinear(0xd5)).toBe(8);
    expect(alawToLinear(0x55)).toBe(-8);
  });

  it('codes the extremes of the 16-bit range to the laws’ largest codes', () => {
    expect(linearToUlaw(32767)).toBe(0x80);
    expect(linearToUlaw(-32768)).toBe(0x00);
    expect(ulawToLinear(0x80)).toBe(32124);
    expect(ulawToLinear(0x00)).toBe(-32124);
    expect(linearToAlaw(32767)).toBe(0xaa);
    expect(linearToAlaw(-32768)).toBe(0x2a);
    expect(alawToLinear(0xaa)).toBe(32256);
    expect(alawToLinear(0x2a)).toBe(-32256);
  });

  it('re-encodes every decoded code to itself', () => {
    for (let code = 0; code < 256; code++) {
      if (code !== 0x7f) expect(linearToUlaw(ulawToLinear(code))).toBe(code);
      expect(linearToAlaw(alawToLinear(code))).toBe(code);
    }
  });

  it('is monotonic: a louder sample never gets a quieter decoded value', () => {
    for (const [encode, decode] of [
      [linearToUlaw, ulawToLinear],
      [linearToAlaw, alawToLinear],
    ] as const) {
      let previous = -Infinity;
      for (let x = -32768; x <= 32767; x += 7) {
        const y = decode(encode(x));
        expect(y).toBeGreaterThanOrEqual(previous);
        previous = y;
      }
    }
  });
});

describe('G.711 frames', () => {
  it.each(['PCMU', 'PCMA'] as const)('%s: a 1 kHz tone keeps its level within 1 dB, loud and quiet', (codec) => {
    for (const amplitude of [16000, 1000, 100]) {
      const tone = sine(1000, amplitude, 8 * G711_FRAME_SAMPLES, 8000);
      const decoded = roundTrip(codec, tone);
      expect(Math.abs(db(toneLevel(decoded, 1000, 8000) / toneLevel(tone, 1000, 8000)))).toBeLessThan(1);
    }
    // Logarithmic quantisation keeps the noise about 35 dB under a -6 dBFS tone.
    const tone = sine(1000, 16000, 8 * G711_FRAME_SAMPLES, 8000);
    const decoded = roundTrip(codec, tone);
    const noise = decoded.map((y, i) => y - (tone[i] ?? 0));
    expect(db(rms(tone) / rms(noise))).toBeGreaterThan(33);
  });

  it('encodes and decodes into caller-supplied buffers, and refuses ones too small', () => {
    const pcm = sine(440, 5000, G711_FRAME_SAMPLES, 8000);
    const bytes = Buffer.alloc(G711_FRAME_SAMPLES);
    expect(encodeG711('PCMU', pcm, bytes)).toBe(bytes);
    const out = new Int16Array(G711_FRAME_SAMPLES);
    expect(decodeG711('PCMU', bytes, out)).toBe(out);
    expect(() => encodeG711('PCMA', pcm, Buffer.alloc(10))).toThrow(RangeError);
    expect(() => decodeG711('PCMA', bytes, new Int16Array(10))).toThrow(RangeError);
  });
});
