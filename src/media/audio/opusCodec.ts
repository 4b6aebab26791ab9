import { createRequire } from 'node:module';
import type * as Opus from '@discordjs/opus';
import { SAMPLE_RATE } from './frame.js';

// The package is CommonJS and builds its exports at run time, so Node's ESM loader cannot see
// `OpusEncoder` as a named export; loading it through `require` is the reliable way in.
const require = createRequire(import.meta.url);
const { OpusEncoder } = require('@discordjs/opus') as typeof Opus;

/** The native codec object; one instance holds both an encoder and a decoder state. */
export type OpusCodec = Opus.OpusEncoder;

/** Creates a 48 kHz mono Opus codec (encoder and decoder state for one stream). */
export function createOpusCodec(): OpusCodec {
  return new OpusEncoder(SAMPLE_RATE, 1);
}
