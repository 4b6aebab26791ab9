import { afterAll, describe, expect, it } from 'vitest';
import { LegwayError } from '../../src/domain/errors.js';
import { DecodePool } from '../../src/media/sources/decodePool.js';
import { encodeWav } from '../../src/media/sources/wav.js';
import { sine, toneLevel } from '../support/tone.js';

describe('DecodePool (WAV decoding on a worker thread)', () => {
  const pool = new DecodePool();
  afterAll(() => pool.close());

  it('decodes and resamples to 48 kHz off the main thread', async () => {
    const wav = encodeWav(sine(1000, 8000, 16_000, 16_000), 16_000);
    const samples = await pool.decode(wav, 'test tone', 60);
    expect(samples).toBeInstanceOf(Int16Array);
    expect(Math.abs(samples.length - 48_000)).toBeLessThan(10);
    expect(toneLevel(samples.subarray(4800, 43_200), 1000)).toBeGreaterThan(6000);
  });

  it('keeps the error codes of the decoder', async () => {
    const garbage = new TextEncoder().encode('not a wav file at all, just text');
    await expect(pool.decode(garbage, 'garbage', 60)).rejects.toSatisfy((e: unknown) => e instanceof LegwayError && e.code === 'UnsupportedMediaType');
    const long = encodeWav(new Int16Array(48_000 * 3), 48_000);
    await expect(pool.decode(long, 'long', 1)).rejects.toSatisfy((e: unknown) => e instanceof LegwayError && e.code === 'PayloadTooLarge');
  });
});
