/**
 * The conference mix: every leg hears the sum of all contributing inputs except its own. The sum
 * is taken once per tick and each leg's own input subtracted from it, so N legs cost O(N) frame
 * passes rather than the O(N²) of summing the others separately for each leg.
 */
import { FRAME_SAMPLES } from './frame.js';

/** The sum of one tick's contributing frames. */
export interface MixTotal {
  /** Unsaturated sum, so that subtracting one leg stays exact. */
  total: Int32Array;
  /** How many inputs went into it; 0 means everyone hears silence. */
  contributors: number;
}

/**
 * Sums the frames of inputs that contribute (not muted, not silent); pass `total` to reuse a buffer across ticks.
 */
export function mixFrames(
  inputs: ReadonlyMap<string, Int16Array | undefined>,
  contributes: (id: string) => boolean,
  total: Int32Array = new Int32Array(FRAME_SAMPLES),
): MixTotal {
  total.fill(0);
  let contributors = 0;
  for (const [id, frame] of inputs) {
    if (frame === undefined || !contributes(id)) continue;
    checkLength(frame, total.length);
    for (let i = 0; i < total.length; i++) total[i] = (total[i] ?? 0) + (frame[i] ?? 0);
    contributors++;
  }
  return { total, contributors };
}

/**
 * One leg's output: the total minus its own input when that went into the total (`ownContributes`
 * must be what `contributes` said for this leg), saturated to 16 bits; pass `out` to reuse a buffer.
 */
export function mixFor(
  total: Int32Array,
  own: Int16Array | undefined,
  ownContributes: boolean,
  out: Int16Array = new Int16Array(total.length),
): Int16Array {
  if (out.length !== total.length) throw new RangeError(`output has ${out.length} samples, the mix ${total.length}`);
  const subtract = ownContributes && own !== undefined ? own : undefined;
  if (subtract !== undefined) checkLength(subtract, total.length);
  for (let i = 0; i < total.length; i++) {
    const v = (total[i] ?? 0) - (subtract?.[i] ?? 0);
    // Clamp rather than let Int16Array wrap: wrapping turns a loud peak into a full-scale click.
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/** Adds one frame into a running sum. */
export function addInto(acc: Int32Array, frame: Int16Array): void {
  checkLength(frame, acc.length);
  for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] ?? 0) + (frame[i] ?? 0);
}

function checkLength(frame: Int16Array, expected: number): void {
  if (frame.length !== expected) throw new RangeError(`frame has ${frame.length} samples, expected ${expected}`);
}
