/** Runs `signal` through `convert` in consecutive frames of `frame` samples, as a call would. */
export function inFrames(signal: Int16Array, frame: number, convert: (f: Int16Array) => Int16Array): Int16Array {
  const parts: Int16Array[] = [];
  for (let i = 0; i < signal.length; i += frame) parts.push(Int16Array.from(convert(signal.subarray(i, i + frame))));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}
