/**
 * ITU-T G.722 at 64 kbit/s (mode 1): a 24-tap QMF splits 16 kHz PCM into two 8 kHz sub-bands,
 * coded with 6-bit (lower) and 2-bit (higher) ADPCM. Written from the standard's block
 * description with its fixed-point arithmetic, because bit-exactness is what lets our encoder's
 * output decode identically on a far end's implementation (and vice versa): any deviation in the
 * adaptation makes the two predictors drift apart.
 *
 * Checked against libspandsp 0.0.6 on 20 s of tones, noise and full-scale squares: identical
 * encoder octets, and identical decoder samples except where its output wraps and ours saturates.
 *
 * Scaling follows the usual 16-bit convention (the standard's 14-bit PCM left-justified): the
 * transmit QMF shifts by 14 and the receive QMF by 11, giving unity gain end to end.
 */

import { IL_BY_SIGN, ILB, Q6, QM2, QM4, QM6, QMF_COEFFS, WH_BY_CODE, WL_BY_CODE4 } from './g722Tables.js';

export const G722_SAMPLE_RATE = 16000;
/** RFC 3551: G.722's RTP clock is 8000 Hz although it samples at 16 kHz. */
export const G722_RTP_CLOCK_RATE = 8000;

const QMF_TAPS = 24;
/** Lower-band reconstructed signal limits (the standard's LIMIT block). */
const RLOW_MAX = 16383;
const RLOW_MIN = -16384;

const sat16 = (v: number): number => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);

/** ADPCM state of one sub-band: scale factor plus the two-pole/six-zero predictor. */
class Band {
  /** Signal estimate for the next sample. */
  s = 0;
  /** Zero-section part of `s`. */
  sz = 0;
  /** Reconstructed signal, one and two samples back. */
  r1 = 0;
  r2 = 0;
  /** Partially reconstructed signal (sz + d), one and two samples back. */
  p1 = 0;
  p2 = 0;
  /** Pole coefficients. */
  a1 = 0;
  a2 = 0;
  /** Log scale factor (NBL / NBH). */
  nb = 0;
  /** Linear scale factor (DETL / DETH). */
  det: number;
  /** Zero coefficients b1..b6. */
  readonly b = new Int32Array(6);
  /** Quantised differences d(k-1)..d(k-6). */
  readonly d = new Int32Array(6);

  constructor(private readonly initialDet: number) {
    this.det = initialDet;
  }

  /** Returns the band to the standard's initial state. */
  reset(): void {
    this.s = this.sz = this.r1 = this.r2 = this.p1 = this.p2 = this.a1 = this.a2 = this.nb = 0;
    this.det = this.initialDet;
    this.b.fill(0);
    this.d.fill(0);
  }
}

/** Log-to-linear scale factor (SCALEL with shift 8, SCALEH with shift 10). */
function scaleFactor(nb: number, shift: number): number {
  const mantissa = ILB[(nb >> 6) & 31] ?? 0;
  const right = shift - (nb >> 11);
  // Truncating before the final << 2 is the standard's rounding (shifting by one less and then
  // << 3 differs in the low bits and desynchronises from other implementations). Only the top
  // log scale of each band (exponent 9 > 8, 11 > 10) shifts left.
  return (right >= 0 ? mantissa >> right : mantissa << -right) << 2;
}

/**
 * The standard's block 4: reconstruct, adapt the pole and zero coefficients by sign-sign LMS,
 * and form the estimate for the next sample. Encoder and decoder run exactly this on the same
 * quantised difference, which is what keeps them in step without side information.
 */
function adaptPredictor(band: Band, dq: number): void {
  const r = sat16(band.s + dq);
  const p = sat16(band.sz + dq);
  // The sign-sign updates are as unpredictable as speech, so they run branch-free: a mask is -1
  // where two signs differ and 0 where they agree, and `(v ^ m) - m` negates v under m = -1.
  const differ1 = (p ^ band.p1) >> 31;
  const differ2 = (p ^ band.p2) >> 31;
  const agree1 = ~differ1;

  // The a2 update uses the old a1, so it comes first.
  const wd1 = sat16(band.a1 * 4);
  let wd2 = (wd1 ^ agree1) - agree1;
  if (wd2 > 32767) wd2 = 32767;
  let a2 = (wd2 >> 7) + ((128 ^ differ2) - differ2) + ((band.a2 * 32512) >> 15);
  if (a2 > 12288) a2 = 12288;
  else if (a2 < -12288) a2 = -12288;

  // Bounding |a1| by 15360 - a2 keeps the pole pair inside the stability triangle.
  let a1 = sat16(((192 ^ differ1) - differ1) + ((band.a1 * 32640) >> 15));
  const a1Limit = 15360 - a2;
  if (a1 > a1Limit) a1 = a1Limit;
  else if (a1 < -a1Limit) a1 = -a1Limit;

  const b = band.b;
  const d = band.d;
  // 128 unless dq is 0 (dq is a 16-bit value, so dq | -dq is negative exactly when dq != 0).
  const step = ((dq | -dq) >>> 31) << 7;
  let sz = 0;
  // Oldest first, so each d(k-i) is read for its b update before it shifts one place down.
  for (let i = 5; i > 0; i--) {
    const m = (dq ^ (d[i] ?? 0)) >> 31;
    const bi = sat16(((step ^ m) - m) + (((b[i] ?? 0) * 32640) >> 15));
    b[i] = bi;
    const older = d[i - 1] ?? 0;
    d[i] = older;
    sz += (bi * sat16(older + older)) >> 15;
  }
  const m0 = (dq ^ (d[0] ?? 0)) >> 31;
  const b0 = sat16(((step ^ m0) - m0) + (((b[0] ?? 0) * 32640) >> 15));
  b[0] = b0;
  d[0] = dq;
  sz = sat16(sz + ((b0 * sat16(dq + dq)) >> 15));

  band.r2 = band.r1;
  band.r1 = r;
  band.p2 = band.p1;
  band.p1 = p;
  band.a1 = a1;
  band.a2 = a2;
  const sp = sat16(((a1 * sat16(r + r)) >> 15) + ((a2 * sat16(band.r2 + band.r2)) >> 15));
  band.sz = sz;
  band.s = sat16(sp + sz);
}

/** Adapts the lower band on the top four bits of its code (the decoder's output level uses all six). */
function updateLow(band: Band, code4: number): void {
  const dq = (band.det * (QM4[code4] ?? 0)) >> 15;
  let nb = ((band.nb * 127) >> 7) + (WL_BY_CODE4[code4] ?? 0);
  if (nb < 0) nb = 0;
  else if (nb > 18432) nb = 18432;
  band.nb = nb;
  band.det = scaleFactor(nb, 8);
  adaptPredictor(band, dq);
}

/** Adapts the higher band on its two-bit code; returns the quantised difference, which is also the decoder's. */
function updateHigh(band: Band, code: number): number {
  const dq = (band.det * (QM2[code] ?? 0)) >> 15;
  let nb = ((band.nb * 127) >> 7) + (WH_BY_CODE[code] ?? 0);
  if (nb < 0) nb = 0;
  else if (nb > 22528) nb = 22528;
  band.nb = nb;
  band.det = scaleFactor(nb, 10);
  adaptPredictor(band, dq);
  return dq;
}

/** Quantises one lower-band sample to six bits and adapts. */
function encodeLow(band: Band, xlow: number): number {
  const el = sat16(xlow - band.s);
  const sign = el >> 31;
  // One's-complement magnitude (el ^ -1 = -el - 1), as the standard computes it.
  const mag = el ^ sign;
  const det = band.det;
  // The standard scans Q6(1..29) for the first level above mag (30 when none is). The levels rise
  // monotonically, so a branch-free binary search finds the same interval: `below` counts the
  // levels mag reaches, stepping only where the level exists (<= 29) and mag reaches it.
  let below = 0;
  for (let step = 16; step > 0; step >>= 1) {
    const at = below + step;
    const reached = (((Q6[at] ?? 0) * det) >> 12) - 1 - mag;
    below += step & (reached >> 31) & ~((29 - at) >> 31);
  }
  const code = IL_BY_SIGN[(sign & 32) | (below + 1)] ?? 0;
  updateLow(band, code >> 2);
  return code;
}

/** Quantises one higher-band sample to two bits and adapts. */
function encodeHigh(band: Band, xhigh: number): number {
  const eh = sat16(xhigh - band.s);
  const sign = eh >> 31;
  const mag = eh ^ sign;
  const outer = ((((564 * band.det) >> 12) - 1 - mag) >>> 31);
  // Codes: 0/1 negative outer/inner, 2/3 positive outer/inner.
  const code = (~sign & 2) | (outer ^ 1);
  updateHigh(band, code);
  return code;
}

/**
 * QMF history: the 24-sample window is stored twice, back to back, so the filter always reads 24
 * consecutive entries from `pos` instead of shifting the buffer or wrapping indices per tap.
 */
class QmfHistory {
  readonly x = new Int32Array(2 * QMF_TAPS);
  pos = 0;

  /** Appends a pair (older first) and leaves `pos` at the start of the window that ends with it. */
  push(older: number, newer: number): void {
    const x = this.x;
    const at = this.pos;
    x[at] = older;
    x[at + QMF_TAPS] = older;
    x[at + 1] = newer;
    x[at + 1 + QMF_TAPS] = newer;
    this.pos = at === QMF_TAPS - 2 ? 0 : at + 2;
  }

  reset(): void {
    this.x.fill(0);
    this.pos = 0;
  }
}

/** Encoder state for one stream: 16 kHz 16-bit PCM in, one byte per two samples out. */
export class G722Encoder {
  private readonly low = new Band(32);
  private readonly high = new Band(8);
  private readonly qmf = new QmfHistory();

  /** Encodes an even number of 16 kHz samples; writes pcm.length/2 bytes into `out` (allocated when omitted) and returns it. */
  encode(pcm: Int16Array, out: Uint8Array = new Uint8Array(pcm.length >> 1)): Uint8Array {
    if ((pcm.length & 1) !== 0) throw new RangeError(`G.722 encodes sample pairs; got ${pcm.length} samples`);
    const n = pcm.length >> 1;
    if (out.length < n) throw new RangeError(`G.722 output holds ${out.length} bytes, needs ${n}`);
    const low = this.low;
    const high = this.high;
    const qmf = this.qmf;
    const x = qmf.x;
    for (let j = 0; j < n; j++) {
      qmf.push(pcm[2 * j] ?? 0, pcm[2 * j + 1] ?? 0);
      // Window position k holds x(j-23+k); the odd taps meet the newest sample.
      const base = qmf.pos;
      let odd = 0;
      let even = 0;
      for (let k = 0; k < QMF_TAPS; k += 2) {
        even += (QMF_COEFFS[k] ?? 0) * (x[base + k] ?? 0);
        odd += (QMF_COEFFS[k + 1] ?? 0) * (x[base + k + 1] ?? 0);
      }
      const ilow = encodeLow(low, (odd + even) >> 14);
      const ihigh = encodeHigh(high, (odd - even) >> 14);
      out[j] = (ihigh << 6) | ilow;
    }
    return out;
  }

  /** Returns the encoder to its initial state, as for a new stream. */
  reset(): void {
    this.low.reset();
    this.high.reset();
    this.qmf.reset();
  }
}

/** Decoder state for one stream: one byte in, two 16 kHz samples out. */
export class G722Decoder {
  private readonly low = new Band(32);
  private readonly high = new Band(8);
  private readonly qmf = new QmfHistory();

  /** Decodes 64 kbit/s G.722 octets; writes payload.length*2 samples into `out` (allocated when omitted) and returns it. */
  decode(payload: Uint8Array, out: Int16Array = new Int16Array(payload.length * 2)): Int16Array {
    const n = payload.length;
    if (out.length < 2 * n) throw new RangeError(`G.722 output holds ${out.length} samples, needs ${2 * n}`);
    const low = this.low;
    const high = this.high;
    const qmf = this.qmf;
    const x = qmf.x;
    for (let j = 0; j < n; j++) {
      const octet = payload[j] ?? 0;
      const ilow = octet & 63;
      const ihigh = octet >> 6;

      // The output uses the full six-bit level; adaptation only the four-bit one, like the encoder.
      let rlow = low.s + ((low.det * (QM6[ilow] ?? 0)) >> 15);
      if (rlow > RLOW_MAX) rlow = RLOW_MAX;
      else if (rlow < RLOW_MIN) rlow = RLOW_MIN;
      updateLow(low, ilow >> 2);

      const sHigh = high.s;
      let rhigh = sHigh + updateHigh(high, ihigh);
      if (rhigh > RLOW_MAX) rhigh = RLOW_MAX;
      else if (rhigh < RLOW_MIN) rhigh = RLOW_MIN;

      qmf.push(rlow + rhigh, rlow - rhigh);
      const base = qmf.pos;
      let odd = 0;
      let even = 0;
      for (let k = 0; k < QMF_TAPS; k += 2) {
        even += (QMF_COEFFS[k] ?? 0) * (x[base + k] ?? 0);
        odd += (QMF_COEFFS[k + 1] ?? 0) * (x[base + k + 1] ?? 0);
      }
      // Odd window slots hold rlow-rhigh, the first output sample's sequence.
      out[2 * j] = sat16(odd >> 11);
      out[2 * j + 1] = sat16(even >> 11);
    }
    return out;
  }

  /** Returns the decoder to its initial state, as for a new stream. */
  reset(): void {
    this.low.reset();
    this.high.reset();
    this.qmf.reset();
  }
}
