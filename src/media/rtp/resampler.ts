/**
 * Narrow-band and wide-band ↔ 48 kHz conversion for SIP legs (G.711 runs at 8 kHz, G.722 at
 * 16 kHz, the bridge at 48 kHz). Both directions use one low-pass FIR per ratio, a Kaiser-windowed
 * sinc, run polyphase, and keep the last input samples between calls so that consecutive frames
 * join without a click: one converter per stream and direction, fed that stream's frames in order.
 */

/** 48 kHz / 8 kHz, the default ratio. */
export const RATIO = 6;

/** The ratios a SIP codec needs: 6 (8 kHz), 3 (16 kHz). */
export type ResampleRatio = 3 | 6;

/**
 * Taps per phase: the designed length is PHASE_TAPS·ratio − 1 (odd, so the filter's delay is a
 * whole number of 48 kHz samples), padded with one zero so that every phase has PHASE_TAPS taps.
 * The same per-phase length keeps the transition band the same fraction of the low rate.
 */
const PHASE_TAPS = 24;
const HIGH_RATE = 48_000;
/** Kaiser β for about 70 dB of stop-band attenuation. */
const KAISER_BETA = 7;
/**
 * −6 dB at 95 % of the low rate's Nyquist (3.8 kHz for 8 kHz, 7.6 kHz for 16 kHz): flat to about
 * 3 (6) kHz, down 70 dB past the Nyquist, so what would fold across it does not.
 */
const CUTOFF_FRACTION = 0.95;

/** Modified Bessel function of the first kind, order 0 (series; converges fast for the β used). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

interface Filter {
  ratio: ResampleRatio;
  /** Designed (odd) length; the padded one is `ratio * PHASE_TAPS`. */
  designTaps: number;
  /** The first half of the (symmetric) low-pass and its centre tap: h[k] = h[designTaps − 1 − k]. */
  half: Float64Array;
  /** Output sample ratio·m+p of the up-converter is the sum over j of phases[p][j] · x[m−j]. */
  phases: Float64Array[];
}

/** The low-pass at 48 kHz with unity gain at DC (its taps sum to 1), and its polyphase split. */
function designFilter(ratio: ResampleRatio): Filter {
  const designTaps = PHASE_TAPS * ratio - 1;
  const h = new Float64Array(designTaps + 1);
  const centre = (designTaps - 1) / 2;
  const fc = (CUTOFF_FRACTION * HIGH_RATE) / ratio / 2 / HIGH_RATE;
  let sum = 0;
  for (let n = 0; n < designTaps; n++) {
    const t = n - centre;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = t / centre;
    const window = besselI0(KAISER_BETA * Math.sqrt(Math.max(0, 1 - r * r))) / besselI0(KAISER_BETA);
    h[n] = sinc * window;
    sum += sinc * window;
  }
  for (let n = 0; n < designTaps; n++) h[n] = (h[n] ?? 0) / sum;
  // The ×ratio restores the level that inserting ratio−1 zeros per sample takes away.
  const phases = Array.from({ length: ratio }, (_, p) => {
    const phase = new Float64Array(PHASE_TAPS);
    for (let j = 0; j < PHASE_TAPS; j++) phase[j] = ratio * (h[p + ratio * j] ?? 0);
    return phase;
  });
  return { ratio, designTaps, half: h.slice(0, centre + 1), phases };
}

const FILTERS: Record<ResampleRatio, Filter> = { 3: designFilter(3), 6: designFilter(6) };

function toInt16(value: number): number {
  const rounded = Math.round(value);
  return rounded > 32767 ? 32767 : rounded < -32768 ? -32768 : rounded;
}

/*
 * Both converters compute four outputs per pass over the taps, so that each coefficient is loaded
 * once for four products and four sums run side by side, and the down-converter adds the two
 * samples under each pair of equal taps before multiplying: about 2.5 times the speed of one output
 * at a time over every tap, with the same filter (the same samples out, but for a rare rounding).
 */

/** 8 (or 16) kHz → 48 kHz for one stream. */
export class Upsampler {
  private readonly filter: Filter;
  /** The last PHASE_TAPS−1 input samples, then the current input. */
  private buffer = new Float64Array(PHASE_TAPS - 1 + 320);

  constructor(ratio: ResampleRatio = RATIO) {
    this.filter = FILTERS[ratio];
  }

  /** Converts `input` (any length) to `ratio` times as many samples, into `out` when given. */
  process(input: Int16Array, out: Int16Array = new Int16Array(input.length * this.filter.ratio)): Int16Array {
    const { ratio, phases } = this.filter;
    const history = PHASE_TAPS - 1;
    const count = input.length;
    if (out.length < count * ratio) throw new RangeError(`output holds ${out.length} samples, need ${count * ratio}`);
    this.ensure(history + count);
    const buf = this.buffer;
    for (let i = 0; i < count; i++) buf[history + i] = input[i] ?? 0;
    for (let p = 0; p < ratio; p++) {
      const phase = phases[p];
      if (phase === undefined) continue;
      let m = 0;
      for (; m + 4 <= count; m += 4) {
        // Inputs m..m+3 share every coefficient; the window slides down one input per tap.
        const newest = history + m;
        let x1 = buf[newest + 1] ?? 0;
        let x2 = buf[newest + 2] ?? 0;
        let x3 = buf[newest + 3] ?? 0;
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        for (let j = 0; j < PHASE_TAPS; j++) {
          const x0 = buf[newest - j] ?? 0;
          const c = phase[j] ?? 0;
          a0 += c * x0;
          a1 += c * x1;
          a2 += c * x2;
          a3 += c * x3;
          x3 = x2;
          x2 = x1;
          x1 = x0;
        }
        const o = m * ratio + p;
        out[o] = toInt16(a0);
        out[o + ratio] = toInt16(a1);
        out[o + 2 * ratio] = toInt16(a2);
        out[o + 3 * ratio] = toInt16(a3);
      }
      for (; m < count; m++) {
        const newest = history + m;
        let acc = 0;
        for (let j = 0; j < PHASE_TAPS; j++) acc += (phase[j] ?? 0) * (buf[newest - j] ?? 0);
        out[m * ratio + p] = toInt16(acc);
      }
    }
    buf.copyWithin(0, count, count + history);
    return out;
  }

  /** Takes `input` into the filter's memory without converting it (a frame nobody listens to), so the next frame joins it without a click. */
  skip(input: Int16Array): void {
    const history = PHASE_TAPS - 1;
    const buf = this.buffer;
    if (input.length >= history) {
      for (let i = 0; i < history; i++) buf[i] = input[input.length - history + i] ?? 0;
    } else {
      buf.copyWithin(0, input.length, history);
      for (let i = 0; i < input.length; i++) buf[history - input.length + i] = input[i] ?? 0;
    }
  }

  /** Forgets the stream so far, as for a new one (after a gap played as silence). */
  reset(): void {
    this.buffer.fill(0);
  }

  private ensure(length: number): void {
    if (this.buffer.length >= length) return;
    const grown = new Float64Array(length);
    grown.set(this.buffer.subarray(0, PHASE_TAPS - 1));
    this.buffer = grown;
  }
}

/** Low-rate samples kept while a down-converter is skipped: enough to rebuild its memory with every output fully filtered. */
const PRIME_SAMPLES = 2 * PHASE_TAPS;

/** 48 kHz → 8 (or 16) kHz for one stream: low-pass first, so nothing above the new Nyquist folds into the band. */
export class Downsampler {
  private readonly filter: Filter;
  /** The last taps−1 input samples, then the current input. */
  private buffer: Float64Array;
  /** The end of the stream as it went out at the low rate while this filter was skipped (`skipLow`). */
  private skipped: Int16Array | undefined;
  private behind = false;

  constructor(ratio: ResampleRatio = RATIO) {
    this.filter = FILTERS[ratio];
    this.buffer = new Float64Array(this.filter.designTaps + 960);
  }

  /** Converts `input` (a multiple of `ratio` samples long) to 1/ratio as many samples, into `out` when given. */
  process(input: Int16Array, out: Int16Array = new Int16Array(input.length / this.filter.ratio)): Int16Array {
    const { ratio, designTaps, half } = this.filter;
    if (input.length % ratio !== 0) throw new RangeError(`input has ${input.length} samples, not a multiple of ${ratio}`);
    const count = input.length / ratio;
    if (out.length < count) throw new RangeError(`output holds ${out.length} samples, need ${count}`);
    const history = designTaps;
    this.ensure(history + input.length);
    if (this.behind) this.rebuild();
    const buf = this.buffer;
    for (let i = 0; i < input.length; i++) buf[history + i] = input[i] ?? 0;
    // The filter is symmetric: the two samples under equal taps are added first, halving the products.
    const centre = half.length - 1;
    const middle = half[centre] ?? 0;
    let m = 0;
    for (; m + 4 <= count; m += 4) {
      // Each output lines up with the last of its inputs, so only samples already here are used.
      const newest = history + m * ratio + ratio - 1;
      const oldest = newest - designTaps + 1;
      let a0 = middle * (buf[newest - centre] ?? 0);
      let a1 = middle * (buf[newest + ratio - centre] ?? 0);
      let a2 = middle * (buf[newest + 2 * ratio - centre] ?? 0);
      let a3 = middle * (buf[newest + 3 * ratio - centre] ?? 0);
      for (let k = 0; k < centre; k++) {
        const c = half[k] ?? 0;
        const n = newest - k;
        const o = oldest + k;
        a0 += c * ((buf[n] ?? 0) + (buf[o] ?? 0));
        a1 += c * ((buf[n + ratio] ?? 0) + (buf[o + ratio] ?? 0));
        a2 += c * ((buf[n + 2 * ratio] ?? 0) + (buf[o + 2 * ratio] ?? 0));
        a3 += c * ((buf[n + 3 * ratio] ?? 0) + (buf[o + 3 * ratio] ?? 0));
      }
      out[m] = toInt16(a0);
      out[m + 1] = toInt16(a1);
      out[m + 2] = toInt16(a2);
      out[m + 3] = toInt16(a3);
    }
    for (; m < count; m++) {
      const newest = history + m * ratio + ratio - 1;
      const oldest = newest - designTaps + 1;
      let acc = middle * (buf[newest - centre] ?? 0);
      for (let k = 0; k < centre; k++) acc += (half[k] ?? 0) * ((buf[newest - k] ?? 0) + (buf[oldest + k] ?? 0));
      out[m] = toInt16(acc);
    }
    buf.copyWithin(0, input.length, input.length + history);
    return out;
  }

  /**
   * Takes in a frame of the stream that went out at the low rate without this filter (a mix summed
   * at that rate), instead of converting one. When frames come through the filter again, its memory
   * is rebuilt from the end of what went out, brought back to 48 kHz: the stream goes on without
   * the gap a filter starting from nothing (or from a stale past) would leave.
   */
  skipLow(low: Int16Array): void {
    const kept = (this.skipped ??= new Int16Array(PRIME_SAMPLES));
    if (low.length >= PRIME_SAMPLES) {
      kept.set(low.subarray(low.length - PRIME_SAMPLES));
    } else {
      kept.copyWithin(0, low.length);
      kept.set(low, PRIME_SAMPLES - low.length);
    }
    this.behind = true;
  }

  /** Forgets the stream so far. */
  reset(): void {
    this.buffer.fill(0);
    this.skipped?.fill(0);
    this.behind = false;
  }

  private rebuild(): void {
    this.behind = false;
    const kept = this.skipped;
    if (kept === undefined) return;
    // The low-rate samples up-converted are what the 48 kHz stream held then, with the same delay.
    const wide = new Upsampler(this.filter.ratio).process(kept);
    const history = this.filter.designTaps;
    for (let i = 0; i < history; i++) this.buffer[i] = wide[wide.length - history + i] ?? 0;
    kept.fill(0);
  }

  private ensure(length: number): void {
    if (this.buffer.length >= length) return;
    const grown = new Float64Array(length);
    grown.set(this.buffer.subarray(0, this.filter.designTaps));
    this.buffer = grown;
  }
}
