import { concatSamples, SAMPLE_RATE } from './frame.js';

/** The DTMF keypad: each key is one low (row) and one high (column) frequency, in Hz. */
const ROWS = [697, 770, 852, 941] as const;
const COLUMNS = [1209, 1336, 1477, 1633] as const;
const KEYPAD = ['123A', '456B', '789C', '*0#D'] as const;

/** Tone and gap lengths: well above the 40 ms detectors need, as trunks and IVRs expect. */
export const DTMF_TONE_MS = 100;
const GAP_MS = 60;
/** `p` in a digit string is a pause, as in dial strings. */
const PAUSE_MS = 500;
/** Each of the two tones at -10 dBFS: loud enough for any detector, no clipping when summed. */
const AMPLITUDE = Math.round(32767 * 10 ** (-10 / 20)) / 2;

/** The two frequencies of a DTMF key, or undefined for anything else. */
export function dtmfFrequencies(key: string): [number, number] | undefined {
  if (key.length !== 1) return undefined;
  for (const [r, row] of KEYPAD.entries()) {
    const low = ROWS[r];
    const high = COLUMNS[row.indexOf(key.toUpperCase())];
    if (low !== undefined && high !== undefined) return [low, high];
  }
  return undefined;
}

/** In-band DTMF for a digit string (`0-9 A-D * #`, `p` = pause) as 48 kHz mono PCM. */
export function dtmfTones(digits: string): Int16Array {
  const perMs = SAMPLE_RATE / 1000;
  const parts: Int16Array[] = [];
  for (const key of digits) {
    if (key === 'p' || key === 'P') {
      parts.push(new Int16Array(PAUSE_MS * perMs));
      continue;
    }
    const pair = dtmfFrequencies(key);
    if (!pair) throw new RangeError(`not a DTMF key: ${key}`);
    const tone = new Int16Array(DTMF_TONE_MS * perMs);
    for (let i = 0; i < tone.length; i++) {
      const t = i / SAMPLE_RATE;
      tone[i] = Math.round(AMPLITUDE * (Math.sin(2 * Math.PI * pair[0] * t) + Math.sin(2 * Math.PI * pair[1] * t)));
    }
    parts.push(tone, new Int16Array(GAP_MS * perMs));
  }
  return concatSamples(parts);
}
