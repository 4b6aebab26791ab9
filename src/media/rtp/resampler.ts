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
  ratio: number;
  /** Designed (odd) length; the padded one is `ratio * PHASE_TAPS`. */
  designTaps: number;
  lowPass: Float64Array;
  /** Output sample ratio·m+p of the up-converter is the sum over j of phases[p][j] · x[m−j]. */
  phases: Float64Array[];
}

/** The low-pass at 48 kHz with unity gain at DC (its taps sum to 1), and its polyphase split. */
function designFilter(ratio: number): Filter {
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
  return { ratio, designTaps, lowPass: h, phases };
}

const FILTERS: Record<ResampleRatio, Filter> = { 3: designFilter(3), 6: designFilter(6) };

function toInt16(value: number): number {
  const rounded = Math.round(value);
  return rounded > 32767 ? 32767 : rounded < -32768 ? -32768 : rounded;
}

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
    if (out.length < input.length * ratio) throw new RangeError(`output holds ${out.length} samples, need ${input.length * ratio}`);
    this.ensure(history + input.length);
    const buf = this.buffer;
    for (let i = 0; i < input.length; i++) buf[history + i] = input[i] ?? 0;
    for (let m = 0; m < input.length; m++) {
      const newest = history + m;
      for (let p = 0; p < ratio; p++) {
        const phase = phases[p];
        if (phase === undefined) continue;
        let acc = 0;
        for (let j = 0; j < PHASE_TAPS; j++) acc += (phase[j] ?? 0) * (buf[newest - j] ?? 0);
        out[m * ratio + p] = toInt16(acc);
      }
    }
    buf.copyWithin(0, input.length, input.length + history);
    return out;
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

/** 48 kHz → 8 (or 16) kHz for one stream: low-pass first, so nothing above the new Nyquist folds into the band. */
export class Downsampler {
  private readonly filter: Filter;
  /** The last taps−1 input samples, then the current input. */
  private buffer: Float64Array;

  constructor(ratio: ResampleRatio = RATIO) {
    this.filter = FILTERS[ratio];
    this.buffer = new Float64Array(this.filter.designTaps + 960);
  }

  /** Converts `input` (a multiple of `ratio` samples long) to 1/ratio as many samples, into `out` when given. */
  process(input: Int16Array, out: Int16Array = new Int16Array(input.length / this.filter.ratio)): Int16Array {
    const { ratio, designTaps, lowPass } = this.filter;
    if (input.length % ratio !== 0) throw new RangeError(`input has ${input.length} samples, not a multiple of ${ratio}`);
    const count = input.length / ratio;
    if (out.length < count) throw new RangeError(`output holds ${out.length} samples, need ${count}`);
    const history = designTaps;
    this.ensure(history + input.length);
    const buf = this.buffer;
    for (let i = 0; i < input.length; i++) buf[history + i] = input[i] ?? 0;
    for (let m = 0; m < count; m++) {
      // Each output lines up with the last of its inputs, so only samples already here are used.
      const newest = history + m * ratio + ratio - 1;
      let acc = 0;
      for (let k = 0; k < designTaps; k++) acc += (lowPass[k] ?? 0) * (buf[newest - k] ?? 0);
      out[m] = toInt16(acc);
    }
    buf.copyWithin(0, input.length, input.length + history);
    return out;
  }

  /** Forgets the stream so far. */
  reset(): void {
    this.buffer.fill(0);
  }

  private ensure(length: number): void {
    if (this.buffer.length >= length) return;
    const grown = new Float64Array(length);
    grown.set(this.buffer.subarray(0, this.filter.designTaps));
    this.buffer = grown;
  }
}
