import { createRequire } from 'node:module';
import type * as Wavefile from 'wavefile';
import { fail } from '../../domain/errors.js';
import { SAMPLE_RATE } from '../audio/frame.js';

/**
 * WAV in and out for the bridge's audio sources. wavefile does the decoding, bit-depth conversion
 * and resampling; this module only decides what is accepted and bounds what a file may cost.
 */

// wavefile ships a UMD bundle that marks itself `__esModule`, so what a default import yields depends
// on the loader (Node, tsx, vitest disagree); `require` gets the same object everywhere.
const require = createRequire(import.meta.url);
const { WaveFile } = require('wavefile') as typeof Wavefile;

/** Default cap on the length of one decoded file (at 48 kHz mono Int16 an hour is ~330 MiB). */
export const DEFAULT_MAX_SECONDS = 3600;

const MIN_RATE = 8000;
const MAX_RATE = 192_000;

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

/** Bits per sample each accepted format may have. */
const ACCEPTED_BITS: ReadonlyMap<number, readonly number[]> = new Map([
  [FORMAT_PCM, [8, 16, 24, 32]],
  [FORMAT_FLOAT, [32, 64]],
  [FORMAT_ALAW, [8]],
  [FORMAT_MULAW, [8]],
]);

const FORMAT_NAMES: ReadonlyMap<number, string> = new Map([
  [2, 'Microsoft ADPCM'],
  [17, 'IMA ADPCM'],
  [49, 'GSM 6.10'],
  [64, 'G.721 ADPCM'],
  [80, 'MPEG'],
  [85, 'MP3'],
  [0x1610, 'AAC'],
]);

export interface DecodeOptions {
  /** Longest audio accepted, in seconds (checked from the header, before anything is decoded). */
  maxSeconds?: number;
}

/** The parts of wavefile's `fmt` object this module reads. */
interface Fmt {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

/**
 * Decodes a WAV file (RIFF; PCM 8/16/24/32-bit, float 32/64-bit, A-law or µ-law; mono or stereo;
 * 8–192 kHz) into the bridge's format, 48 kHz mono Int16. `what` names the file in messages.
 * Synchronous and CPU-bound: about 35–45 ms per second of audio when resampling.
 */
export function decodeWav(bytes: Uint8Array, what: string, options: DecodeOptions = {}): Int16Array {
  const maxSeconds = options.maxSeconds ?? DEFAULT_MAX_SECONDS;
  const { wav, blockAlign, frames } = normalise(bytes, what);

  const file = new WaveFile();
  try {
    file.fromBuffer(wav);
  } catch {
    throw fail('UnsupportedMediaType', `${what} is not a readable WAV file`);
  }
  const fmt = readFmt(file.fmt, what);
  checkFormat(fmt, blockAlign, what);

  const seconds = frames / fmt.sampleRate;
  if (seconds > maxSeconds) {
    throw fail('PayloadTooLarge', `${what} is ${Math.ceil(seconds)} s long; at most ${maxSeconds} s is accepted`);
  }
  if (frames === 0) return new Int16Array(0);

  try {
    return toBridgeFormat(file, fmt);
  } catch {
    // wavefile validates as it converts; whatever it still refuses is a file we cannot play.
    throw fail('UnsupportedMediaType', `${what} could not be decoded`);
  }
}

/** Encodes 16-bit mono samples as a PCM WAV file (recordings, tests). */
export function encodeWav(samples: Int16Array, sampleRate: number): Uint8Array {
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > MAX_RATE) {
    throw fail('BadRequest', `sample rate ${sampleRate} is not supported`);
  }
  const file = new WaveFile();
  file.fromScratch(1, sampleRate, '16', samples);
  return file.toBuffer();
}

/** wavefile's own work: to 16-bit, downmix, to 48 kHz. */
function toBridgeFormat(file: Wavefile.WaveFile, fmt: Fmt): Int16Array {
  if (fmt.audioFormat === FORMAT_MULAW) file.fromMuLaw('16');
  else if (fmt.audioFormat === FORMAT_ALAW) file.fromALaw('16');
  else if (file.bitDepth !== '16') file.toBitDepth('16');

  let mono: Int16Array;
  if (fmt.numChannels === 1) {
    mono = file.getSamples(false, Int16Array) as unknown as Int16Array;
  } else {
    const [left, right] = file.getSamples(false, Float64Array) as unknown as [Float64Array, Float64Array];
    mono = new Int16Array(left.length);
    for (let i = 0; i < mono.length; i++) mono[i] = Math.round(((left[i] ?? 0) + (right[i] ?? 0)) / 2);
  }
  if (fmt.sampleRate === SAMPLE_RATE) return mono;

  const resampler = new WaveFile();
  resampler.fromScratch(1, fmt.sampleRate, '16', mono);
  resampler.toSampleRate(SAMPLE_RATE, { method: 'sinc' });
  return resampler.getSamples(false, Int16Array) as unknown as Int16Array;
}

function readFmt(fmt: object, what: string): Fmt {
  const f = fmt as Partial<Record<keyof Fmt, unknown>>;
  const fields = [f.audioFormat, f.numChannels, f.sampleRate, f.blockAlign, f.bitsPerSample];
  if (!fields.every((v) => typeof v === 'number' && Number.isInteger(v))) {
    throw fail('UnsupportedMediaType', `${what} has a malformed format header`);
  }
  // A copy: wavefile resets its own `fmt` object when it converts.
  const { audioFormat, numChannels, sampleRate, blockAlign, bitsPerSample } = f as Fmt;
  return { audioFormat, numChannels, sampleRate, blockAlign, bitsPerSample };
}

function checkFormat(fmt: Fmt, blockAlign: number, what: string): void {
  const bits = ACCEPTED_BITS.get(fmt.audioFormat);
  if (bits === undefined) {
    const name = FORMAT_NAMES.get(fmt.audioFormat) ?? `format code ${fmt.audioFormat}`;
    throw fail('UnsupportedMediaType', `${what} holds ${name} audio; only PCM, float, A-law and µ-law WAV are supported`);
  }
  if (!bits.includes(fmt.bitsPerSample)) {
    throw fail('UnsupportedMediaType', `${what} has ${fmt.bitsPerSample}-bit samples, which this format does not allow here (${bits.join('/')}-bit)`);
  }
  if (fmt.numChannels !== 1 && fmt.numChannels !== 2) {
    throw fail('UnsupportedMediaType', `${what} has ${fmt.numChannels} channels; only mono and stereo are supported`);
  }
  if (fmt.sampleRate < MIN_RATE || fmt.sampleRate > MAX_RATE) {
    throw fail('UnsupportedMediaType', `${what} has a sample rate of ${fmt.sampleRate} Hz; ${MIN_RATE}–${MAX_RATE} Hz is supported`);
  }
  if (blockAlign !== fmt.numChannels * (fmt.bitsPerSample / 8)) {
    throw fail('UnsupportedMediaType', `${what} has an inconsistent format header (block size ${blockAlign})`);
  }
}

const RIFF_HEADER = 12;
const CHUNK_HEADER = 8;

function ascii(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + 4));
}

/**
 * Rebuilds the file as RIFF header + `fmt ` + `data` only, with the data cut to whole frames and
 * the extensible format folded into its plain code. This framing pass is ours because wavefile
 * trusts counts in chunks we never need: a 68-byte file whose `cue ` chunk claims 2^31 points
 * keeps its reader looping for minutes. Decoding the audio is left to wavefile.
 */
function normalise(bytes: Uint8Array, what: string): { wav: Uint8Array; blockAlign: number; frames: number } {
  const notWav = (): never => {
    throw fail('UnsupportedMediaType', `${what} is not a WAV file`);
  };
  if (bytes.length < RIFF_HEADER) notWav();
  const container = ascii(bytes, 0);
  if (container === 'RF64' || container === 'RIFX') {
    throw fail('UnsupportedMediaType', `${what} is an ${container} file; only little-endian RIFF WAV is supported`);
  }
  if (container !== 'RIFF' || ascii(bytes, 8) !== 'WAVE') notWav();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  let fmt: Uint8Array | undefined;
  let data: Uint8Array | undefined;
  for (let pos = RIFF_HEADER; pos + CHUNK_HEADER <= bytes.length; ) {
    const id = ascii(bytes, pos);
    const size = view.getUint32(pos + 4, true);
    const body = pos + CHUNK_HEADER;
    if (id === 'fmt ' && fmt === undefined) {
      if (size < 16 || body + size > bytes.length) {
        throw fail('UnsupportedMediaType', `${what} has a malformed format header`);
      }
      fmt = bytes.slice(body, body + size);
    } else if (id === 'data' && data === undefined) {
      // Streamed WAVs (espeak-ng --stdout among them) carry a placeholder size: take what is there.
      data = bytes.subarray(body, Math.min(bytes.length, body + size));
    }
    if (fmt !== undefined && data !== undefined) break;
    pos = body + size + (size & 1);
  }
  if (fmt === undefined) throw fail('UnsupportedMediaType', `${what} is not a WAV file (no format header)`);
  if (data === undefined) throw fail('UnsupportedMediaType', `${what} holds no audio data`);

  const fmtView = new DataView(fmt.buffer, fmt.byteOffset, fmt.byteLength);
  if (fmtView.getUint16(0, true) === FORMAT_EXTENSIBLE) {
    if (fmt.length < 40) throw fail('UnsupportedMediaType', `${what} has a malformed extensible format header`);
    // The sub-format GUID starts with the plain format code; wavefile only knows the plain codes.
    fmtView.setUint16(0, fmtView.getUint16(24, true), true);
  }
  const blockAlign = fmtView.getUint16(12, true);
  if (blockAlign === 0) throw fail('UnsupportedMediaType', `${what} has a malformed format header`);
  const frames = Math.floor(data.length / blockAlign);
  const audio = data.subarray(0, frames * blockAlign);

  const fmtPadded = fmt.length + (fmt.length & 1);
  const out = new Uint8Array(RIFF_HEADER + CHUNK_HEADER + fmtPadded + CHUNK_HEADER + audio.length);
  const outView = new DataView(out.buffer);
  const dataAt = RIFF_HEADER + CHUNK_HEADER + fmtPadded;
  out.set(bytes.subarray(0, RIFF_HEADER), 0); // RIFF <size> WAVE
  outView.setUint32(4, out.length - 8, true);
  out.set([0x66, 0x6d, 0x74, 0x20], RIFF_HEADER); // 'fmt '
  outView.setUint32(RIFF_HEADER + 4, fmt.length, true);
  out.set(fmt, RIFF_HEADER + CHUNK_HEADER);
  out.set([0x64, 0x61, 0x74, 0x61], dataAt); // 'data'
  outView.setUint32(dataAt + 4, audio.length, true);
  out.set(audio, dataAt + CHUNK_HEADER);
  return { wav: out, blockAlign, frames };
}
