import { z } from 'zod';

/**
 * Parameters of play, say, record and DTMF, shared by the REST API and the operator namespace so
 * that both accept exactly the same: Vonage's names and ranges (`loop` 0 = until stopped, `level`
 * -1 to 1 with 0 = as recorded).
 */

export const loop = z.number().int().min(0).max(1000);
export const level = z.number().min(-1).max(1);

/** A local file of the media folder (no absolute path, no `..`, no scheme) or an http(s) URL. */
export const streamSource = z
  .string()
  .min(1)
  .max(2048)
  .refine(
    (s) => /^https?:\/\/[^\s]+$/i.test(s) || (!s.startsWith('/') && !s.split(/[\\/]/).includes('..') && !s.includes('\0') && !/^[a-z][a-z0-9+.-]*:/i.test(s)),
    'must be an http(s) URL or a file in the media folder',
  );

/** Vonage's `stream_url` is an array (of one URL, usually); a plain string is taken too. */
export const streamUrls = z.union([streamSource.transform((s) => [s]), z.array(streamSource).min(1).max(10)]);

export const playParams = {
  stream_url: streamUrls,
  loop: loop.default(1),
  level: level.default(0),
};

export const sayParams = {
  text: z.string().min(1).max(1500),
  language: z
    .string()
    .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a language tag such as en-US')
    .optional(),
  /** Words per minute. */
  rate: z.number().int().min(80).max(450).optional(),
  loop: loop.default(1),
  level: level.default(0),
};

export const recordParams = {
  format: z.literal('wav').default('wav'),
  /** Seconds; the recording stops by itself after it. */
  max_duration: z.number().int().min(1).max(14_400).optional(),
  /** Conversation recordings: also one file per leg (the legs in the call when it starts). */
  split: z.boolean().default(false),
};

export const dtmfDigits = z.string().regex(/^[0-9A-Da-d*#p]{1,64}$/, 'must be 1 to 64 of 0-9 A-D * # p (p = pause)');
