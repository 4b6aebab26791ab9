/**
 * Test signals and measurements for asserting on audio itself: make a tone, then ask how much of
 * a given frequency a frame holds.
 */

/** A sine tone as 16-bit samples (rounded, clamped to the Int16 range). */
export function sine(freq: number, amplitude: number, samples: number, sampleRate = 48_000, phase = 0): Int16Array {
  const out = new Int16Array(samples);
  const step = (2 * Math.PI * freq) / sampleRate;
  for (let i = 0; i < samples; i++) {
    out[i] = Math.max(-32768, Math.min(32767, Math.round(amplitude * Math.sin(phase + step * i))));
  }
  return out;
}

/**
 * Amplitude of `freq` in the samples (Goertzel), in sample units: a pure sine of amplitude A gives
 * about A.
 */
export function toneLevel(samples: ArrayLike<number>, freq: number, sampleRate = 48_000): number {
  const n = samples.length;
  if (n === 0) return 0;
  const w = (2 * Math.PI * freq) / sampleRate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let windowSum = 0;
  for (let i = 0; i < n; i++) {
    // A Hann window: 440 Hz is not a whole number of cycles in 20 ms, and without a window its
    // neighbours 440 Hz away would leak a few percent into each other's estimates.
    const h = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
    windowSum += h;
    const s0 = (samples[i] ?? 0) * h + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  // A windowed sine of amplitude A has |X(f)| = A·Σh/2.
  return (2 * Math.sqrt(Math.max(0, power))) / windowSum;
}

/** Root mean square of the samples. */
export function rms(samples: ArrayLike<number>): number {
  const n = samples.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (samples[i] ?? 0) ** 2;
  return Math.sqrt(sum / n);
}
