/**
 * The worker side of `decodeWavOffThread`: decodes (and resamples) a WAV away from the event loop
 * that runs every call's 20 ms audio ticks. Errors come back as values, since a thrown
 * LegwayError would lose its code crossing the thread boundary.
 */
import { LegwayError } from '../../domain/errors.js';
import { decodeWav } from './wav.js';

export interface DecodeTask {
  bytes: Uint8Array;
  what: string;
  maxSeconds: number;
}

export type DecodeResult = { ok: true; samples: Int16Array } | { ok: false; code: LegwayError['code']; message: string };

export default function decode(task: DecodeTask): DecodeResult {
  try {
    // Structured-cloned back: a copy of a few MB costs far less than the decoding did.
    return { ok: true, samples: decodeWav(task.bytes, task.what, { maxSeconds: task.maxSeconds }) };
  } catch (err) {
    if (err instanceof LegwayError) return { ok: false, code: err.code, message: err.message };
    return { ok: false, code: 'UnsupportedMediaType', message: `${task.what} could not be decoded` };
  }
}
