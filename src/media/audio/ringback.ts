import { SAMPLE_RATE } from './frame.js';

/**
 * One cadence of ringback tone (what a caller hears while the far end rings), 48 kHz mono, to be
 * looped: North American (440 + 480 Hz, 2 s on, 4 s off) or European (425 Hz, 1 s on, 4 s off).
 */
export function ringbackCadence(style: 'us' | 'eu'): Int16Array {
  const [freqs, onMs, offMs] = style === 'us' ? [[440, 480], 2000, 4000] : [[425], 1000, 4000];
  const on = (SAMPLE_RATE * onMs) / 1000;
  const out = new Int16Array(on + (SAMPLE_RATE * offMs) / 1000);
  // About -16 dBFS in all: clearly a tone, well below the speech around it.
  const amplitude = 5000 / freqs.length;
  for (let i = 0; i < on; i++) {
    let v = 0;
    for (const f of freqs) v += Math.sin((2 * Math.PI * f * i) / SAMPLE_RATE);
    out[i] = Math.round(amplitude * v);
  }
  return out;
}
