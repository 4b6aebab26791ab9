/**
 * 8 kHz ↔ 48 kHz conversion for SIP legs (G.711 runs at 8 kHz, the bridge at 48 kHz). Both
 * directions use one low-pass FIR, a Kaiser-windowed sinc, run polyphase, and keep the last input
 * samples between calls so that consecutive 20 ms frames join without a click: one converter per
 * stream and direction, fed that stream's frames in order.
 */

/** 48 kHz / 8 kHz. */
export const RATIO = 6;

/** Designed length: odd, so the filter's delay is a whole number of 48 kHz samples (71, 1.5 ms). */
const DESIGN_TAPS = 143;
/** Padded to a multiple of RATIO with one zero, so each of the six phases has 24 taps. */
const TAPS = DESIGN_TAPS + 1;
const PHASE_TAPS = TAPS / RATIO;
/**
 * -6 dB at 3.8 kHz: flat (within 0.1 dB) to about 3 kHz, down 70 dB from about 4.6 kHz, so
 * telephone band passes and what would fold across 4 kHz does not.
 */
const CUTOFF_HZ = 3800;
const HIGH_RATE = 48_000;
/** Kaiser β for about 70 dB of stop-band attenuation. */
const KAISER_BETA = 7;

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

/** The low-pass at 48 kHz with unity gain at DC (its taps sum to 1). */
function designLowPass(): Float64Array {
  const h = new Float64Array(TAPS);
  const centre = (DESIGN_TAPS - 1) / 2;
  const fc = CUTOFF_HZ / HIGH_RATE;
  let sum = 0;
  for (let n = 0; n < DESIGN_TAPS; n++) {
    const t = n - centre;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = t / centre;
    const window = besselI0(KAISER_BETA * Math.sqrt(Math.max(0, 1 - r * r))) / besselI0(KAISER_BETA);
    h[n] = sinc * window;
    sum += sinc * window;
  }
  for (let n = 0; n < DESIGN_TAPS; n++) h[n] = (h[n] ?? 0) / sum;
  return h;
}

const LOW_PASS = designLowPass();

/**
 * The up-converter's taps by phase: output sample 6m+p is the sum over j of
 * PHASES[p][j] · x[m−j], where the ×6 restores the level that inserting five zeros per sample takes away.
 */
const PHASES: Float64Array[] = Array.from({ length: RATIO }, (_, p) => {
  const phase = new Float64Array(PHASE_TAPS);
  for (let j = 0; j < PHASE_TAPS; j++) phase[j] = RATIO * (LOW_PASS[p + RATIO * j] ?? 0);
  return phase;
});

function toInt16(value: number): number {
  const rounded = Math.round(value);
  return rounded > 32767 ? 32767 : rounded < -32768 ? -32768 : rounded;
}

/** 8 kHz → 48 kHz for one stream. */
export class Upsampler {
  /** The last PHASE_TAPS−1 input samples, then the current input. */
  private buffer = new Float64Array(PHASE_TAPS - 1 + 160);

  /** Converts `input` (any length) to six times as many samples, into `out` when given. */
  process(input: Int16Array, out: Int16Array = new Int16Array(input.length * RATIO)): Int16Array {
    const history = PHASE_TAPS - 1;
    if (out.length < input.length * RATIO) throw new RangeError(`output holds ${out.length} samples, need ${input.length * RATIO}`);
    this.ensure(history + input.length);
    const buf = this.buffer;
    for (let i = 0; i < input.length; i++) buf[history + i] = input[i] ?? 0;
    for (let m = 0; m < input.length; m++) {
      const newest = history + m;
      for (let p = 0; p < RATIO; p++) {
        const phase = PHASES[p];
        if (phase === undefined) continue;
        let acc = 0;
        for (let j = 0; j < PHASE_TAPS; j++) acc += (phase[j] ?? 0) * (buf[newest - j] ?? 0);
        out[m * RATIO + p] = toInt16(acc);
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

/** 48 kHz → 8 kHz for one stream: low-pass first, so nothing above 4 kHz folds into the band. */
export class Downsampler {
  /** The last TAPS−1 input samples, then the current input. */
  private buffer = new Float64Array(TAPS - 1 + 960);

  /** Converts `input` (a multiple of 6 samples long) to a sixth as many samples, into `out` when given. */
  process(input: Int16Array, out: Int16Array = new Int16Array(input.length / RATIO)): Int16Array {
    if (input.length % RATIO !== 0) throw new RangeError(`input has ${input.length} samples, not a multiple of ${RATIO}`);
    const count = input.length / RATIO;
    if (out.length < count) throw new RangeError(`output holds ${out.length} samples, need ${count}`);
    const history = TAPS - 1;
    this.ensure(history + input.length);
    const buf = this.buffer;
    for (let i = 0; i < input.length; i++) buf[history + i] = input[i] ?? 0;
    for (let m = 0; m < count; m++) {
      // Each output lines up with the last of its six inputs, so only samples already here are used.
      const newest = history + m * RATIO + RATIO - 1;
      let acc = 0;
      for (let k = 0; k < DESIGN_TAPS; k++) acc += (LOW_PASS[k] ?? 0) * (buf[newest - k] ?? 0);
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
    grown.set(this.buffer.subarray(0, TAPS - 1));
    this.buffer = grown;
  }
}
