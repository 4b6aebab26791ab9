import { describe, expect, it } from 'vitest';
import { G722_RTP_CLOCK_RATE, G722_SAMPLE_RATE, G722Decoder, G722Encoder } from '../../../src/media/codecs/g722.js';
import { sine, toneLevel } from '../../support/tone.js';

const RATE = G722_SAMPLE_RATE;
/** The codec's start-up (scale factors and predictors adapting), left out of quality measures. */
const STARTUP = 320;

const roundTrip = (pcm: Int16Array): Int16Array => new G722Decoder().decode(new G722Encoder().encode(pcm));

/** SNR in dB of `out` against `input` delayed by `lag`, from `STARTUP` on. */
function snrAt(input: Int16Array, out: Int16Array, lag: number): number {
  let signal = 0;
  let noise = 0;
  for (let i = STARTUP; i + lag < out.length; i++) {
    const x = input[i]!;
    signal += x * x;
    noise += (x - out[i + lag]!) ** 2;
  }
  return 10 * Math.log10(signal / Math.max(noise, 1e-9));
}

/** Deterministic white-ish noise, so a failure reproduces. */
function noise(samples: number, amplitude: number, seed = 1): Int16Array {
  const out = new Int16Array(samples);
  let state = seed;
  for (let i = 0; i < samples; i++) {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    out[i] = Math.round(amplitude * (state / 0x7fffffff - 0.5) * 2);
  }
  return out;
}

/**
 * The QMF pair's delay, found on broadband noise where (unlike a tone) only one lag lines up.
 */
function codecDelay(): number {
  const input = noise(8000, 8000);
  const out = roundTrip(input);
  let best = 0;
  for (let lag = 1; lag <= 40; lag++) if (snrAt(input, out, lag) > snrAt(input, out, best)) best = lag;
  return best;
}

describe('G.722 constants', () => {
  it('samples at 16 kHz on the 8 kHz RTP clock RFC 3551 assigns it', () => {
    expect(G722_SAMPLE_RATE).toBe(16000);
    expect(G722_RTP_CLOCK_RATE).toBe(8000);
  });
});

describe('G.722 round trip', () => {
  const delay = codecDelay();

  it('delays the signal by a fixed 22 samples (the two 24-tap QMFs)', () => {
    expect(delay).toBe(22);
  });

  it('passes a 1 kHz tone (lower band) with high SNR', () => {
    const input = sine(1000, 8000, RATE, RATE);
    const out = roundTrip(input);
    // Measured ~47 dB; a codec with a broken lower band is far below.
    expect(snrAt(input, out, delay)).toBeGreaterThan(40);
  });

  it('passes a 5 kHz tone (higher band) at its level', () => {
    const input = sine(5000, 8000, RATE, RATE);
    const out = roundTrip(input);
    // The higher band has only 2 bits per sample: measured ~22 dB. Losing the band would leave
    // nothing of the tone (~0 dB), which is what this guards.
    expect(snrAt(input, out, delay)).toBeGreaterThan(17);
    const level = toneLevel(out.subarray(STARTUP), 5000, RATE);
    expect(20 * Math.log10(level / 8000)).toBeCloseTo(0, 0);
  });

  it('passes a tone of either band at low level too', () => {
    for (const freq of [1000, 5000]) {
      const input = sine(freq, 500, RATE, RATE);
      expect(snrAt(input, roundTrip(input), delay)).toBeGreaterThan(15);
    }
  });

  it('turns silence into near-silence', () => {
    const out = roundTrip(new Int16Array(RATE));
    expect(Math.max(...Array.from(out, Math.abs))).toBeLessThanOrEqual(8);
  });

  it('packs the higher band in the top two bits and the lower band in the low six', () => {
    const silence = new G722Encoder().encode(new Int16Array(RATE));
    // Silence keeps the higher band on its inner positive code, 0b11.
    expect(silence.every((b) => b >> 6 === 0b11)).toBe(true);

    // Each band decodes from its own bits: splice a 1 kHz tone's low six bits with silence's top
    // two, and a 5 kHz tone's top two with silence's low six.
    const low = sine(1000, 8000, RATE, RATE);
    const high = sine(5000, 8000, RATE, RATE);
    const lowBytes = new G722Encoder().encode(low);
    const highBytes = new G722Encoder().encode(high);
    const lowOnly = lowBytes.map((b, i) => (b & 0x3f) | (silence[i]! & 0xc0));
    const highOnly = highBytes.map((b, i) => (b & 0xc0) | (silence[i]! & 0x3f));
    expect(snrAt(low, new G722Decoder().decode(lowOnly), delay)).toBeGreaterThan(35);
    expect(snrAt(high, new G722Decoder().decode(highOnly), delay)).toBeGreaterThan(15);
  });

  it('clamps a full-scale square wave to int16 instead of wrapping', () => {
    const period = 40;
    const input = new Int16Array(RATE);
    for (let i = 0; i < input.length; i++) input[i] = Math.floor(i / (period / 2)) % 2 === 0 ? 32767 : -32768;
    const out = roundTrip(input);
    let sameSign = 0;
    let checked = 0;
    let dot = 0;
    let inPower = 0;
    let outPower = 0;
    for (let i = STARTUP; i + delay < out.length; i++) {
      const x = input[i]!;
      const y = out[i + delay]!;
      dot += x * y;
      inPower += x * x;
      outPower += y * y;
      // Away from the edges, where the band limit rings, the output keeps the input's sign: a
      // wrapped overflow would flip a near-full-scale sample to the other rail.
      const phase = i % (period / 2);
      if (phase >= 4 && phase < period / 2 - 4) {
        checked++;
        if (Math.sign(y) === Math.sign(x)) sameSign++;
      }
    }
    expect(sameSign).toBe(checked);
    expect(dot / Math.sqrt(inPower * outPower)).toBeGreaterThan(0.9);
    // It does reach the rails: the Gibbs overshoot is clamped, not wrapped.
    expect(Math.max(...out)).toBe(32767);
    expect(Math.min(...out)).toBe(-32768);
  });
});

describe('G.722 state', () => {
  const speechLike = (): Int16Array => {
    const a = sine(440, 6000, 640, RATE);
    const b = sine(5300, 2000, 640, RATE);
    const n = noise(640, 1500, 7);
    return Int16Array.from(a, (v, i) => v + b[i]! + n[i]!);
  };

  it('encodes the same input to the same bytes with fresh encoders', () => {
    const input = speechLike();
    expect(new G722Encoder().encode(input)).toEqual(new G722Encoder().encode(input));
  });

  it('reset() makes a used encoder behave like a fresh one', () => {
    const input = speechLike();
    const used = new G722Encoder();
    used.encode(noise(640, 10000, 3));
    used.reset();
    expect(used.encode(input)).toEqual(new G722Encoder().encode(input));
  });

  it('carries state across calls: two 20 ms encodes equal one 40 ms encode', () => {
    const input = speechLike();
    const enc = new G722Encoder();
    const chunked = new Uint8Array(320);
    enc.encode(input.subarray(0, 320), chunked.subarray(0, 160));
    enc.encode(input.subarray(320), chunked.subarray(160));
    expect(chunked).toEqual(new G722Encoder().encode(input));
  });

  it('carries state across calls: decoding 160 then 160 bytes equals 320 at once', () => {
    const bytes = new G722Encoder().encode(speechLike());
    const dec = new G722Decoder();
    const first = dec.decode(bytes.subarray(0, 160));
    const second = dec.decode(bytes.subarray(160));
    const whole = new G722Decoder().decode(bytes);
    expect(Int16Array.from([...first, ...second])).toEqual(whole);
  });

  it('reset() makes a used decoder behave like a fresh one', () => {
    const bytes = new G722Encoder().encode(speechLike());
    const used = new G722Decoder();
    used.decode(new G722Encoder().encode(noise(640, 10000, 5)));
    used.reset();
    expect(used.decode(bytes)).toEqual(new G722Decoder().decode(bytes));
  });

  it('writes into caller-provided buffers and rejects ones too small or odd input', () => {
    const pcm = sine(1000, 8000, 320, RATE);
    const bytes = new Uint8Array(160);
    expect(new G722Encoder().encode(pcm, bytes)).toBe(bytes);
    const out = new Int16Array(320);
    expect(new G722Decoder().decode(bytes, out)).toBe(out);
    expect(() => new G722Encoder().encode(pcm.subarray(0, 319))).toThrow(RangeError);
    expect(() => new G722Encoder().encode(pcm, new Uint8Array(10))).toThrow(RangeError);
    expect(() => new G722Decoder().decode(bytes, new Int16Array(10))).toThrow(RangeError);
  });
});
