/**
 * G.711 (ITU-T, 1972): PCMU (µ-law) and PCMA (A-law), 8 kHz, one byte per sample. Both laws are
 * computed once into tables (256 entries to decode, 65536 to encode, indexed by the 16-bit sample),
 * so that coding a 20 ms frame is 160 table look-ups.
 */

/** The G.711 laws by their RTP names (static payload types 0 and 8). */
export type G711Codec = 'PCMU' | 'PCMA';

/** Static RTP payload types of the two laws (RFC 3551). */
export const G711_STATIC_PAYLOAD_TYPES: Readonly<Record<G711Codec, number>> = { PCMU: 0, PCMA: 8 };

/** Samples (and bytes) in one 20 ms G.711 frame: 8000 Hz × 20 ms. */
export const G711_FRAME_SAMPLES = 160;

/** µ-law's bias (33 on G.711's 14-bit scale, here on the 16-bit one) and its largest magnitude before biasing. */
const ULAW_BIAS = 0x84;
const ULAW_CLIP = 32635;

/** µ-law code of one 16-bit sample. */
export function linearToUlaw(sample: number): number {
  let magnitude = sample;
  let sign = 0;
  if (magnitude < 0) {
    magnitude = -magnitude;
    sign = 0x80;
  }
  magnitude = Math.min(magnitude, ULAW_CLIP) + ULAW_BIAS;
  // The segment is the position of the highest set bit above bit 7 (0..7).
  let exponent = 7;
  for (let mask = 0x4000; exponent > 0 && (magnitude & mask) === 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  // Codes go out inverted, so that idle lines carry mostly ones.
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** 16-bit sample of one µ-law code. */
export function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
  // `0 - x`, not `-x`: code 0x7F is negative zero in the law, but must decode to a plain 0.
  return (u & 0x80) !== 0 ? 0 - magnitude : magnitude;
}

/** A-law code of one 16-bit sample. */
export function linearToAlaw(sample: number): number {
  // A-law works on 13 bits; negative values are one's-complemented so the two halves mirror.
  let value = sample >> 3;
  let mask = 0xd5;
  if (value < 0) {
    mask = 0x55;
    value = -value - 1;
  }
  let segment = 0;
  while (segment < 8 && value >= 0x20 << segment) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  const mantissa = segment < 2 ? (value >> 1) & 0x0f : (value >> segment) & 0x0f;
  // Even bits go out inverted (the 0x55 in the mask), as G.711 asks for line-density reasons.
  return ((segment << 4) | mantissa) ^ mask;
}

/** 16-bit sample of one A-law code. */
export function alawToLinear(code: number): number {
  const a = (code & 0xff) ^ 0x55;
  const segment = (a & 0x70) >> 4;
  let magnitude = ((a & 0x0f) << 4) + 8;
  if (segment >= 1) magnitude = (magnitude + 0x100) << (segment - 1);
  return (a & 0x80) !== 0 ? magnitude : -magnitude;
}

function decodeTable(law: (code: number) => number): Int16Array {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) table[code] = law(code);
  return table;
}

function encodeTable(law: (sample: number) => number): Uint8Array {
  const table = new Uint8Array(65536);
  for (let i = 0; i < 65536; i++) table[i] = law(i - 32768);
  return table;
}

const TABLES: Record<G711Codec, { decode: Int16Array; encode: Uint8Array }> = {
  PCMU: { decode: decodeTable(ulawToLinear), encode: encodeTable(linearToUlaw) },
  PCMA: { decode: decodeTable(alawToLinear), encode: encodeTable(linearToAlaw) },
};

/** Encodes 8 kHz PCM to G.711 bytes (one per sample), into `out` when given. */
export function encodeG711(codec: G711Codec, pcm: Int16Array, out: Buffer = Buffer.allocUnsafe(pcm.length)): Buffer {
  if (out.length < pcm.length) throw new RangeError(`output holds ${out.length} bytes, need ${pcm.length}`);
  const table = TABLES[codec].encode;
  for (let i = 0; i < pcm.length; i++) out[i] = table[(pcm[i] ?? 0) + 32768] ?? 0;
  return out;
}

/** Decodes G.711 bytes to 8 kHz PCM, into `out` when given. */
export function decodeG711(codec: G711Codec, payload: Uint8Array, out: Int16Array = new Int16Array(payload.length)): Int16Array {
  if (out.length < payload.length) throw new RangeError(`output holds ${out.length} samples, need ${payload.length}`);
  const table = TABLES[codec].decode;
  for (let i = 0; i < payload.length; i++) out[i] = table[payload[i] ?? 0] ?? 0;
  return out;
}
