/**
 * The audio bridge's one frame format: 48 kHz mono signed 16-bit PCM in 20 ms frames, which is
 * what WebRTC Opus carries, so no leg needs resampling inside the bridge.
 */

/** Samples per second. */
export const SAMPLE_RATE = 48_000;

/** Length of one frame, and of one bridge tick, in milliseconds. */
export const FRAME_MS = 20;

/** Samples in one frame (also the RTP timestamp step per frame, since the Opus RTP clock is 48 kHz). */
export const FRAME_SAMPLES = (SAMPLE_RATE * FRAME_MS) / 1000;

/** The clips one after the other, as one buffer (the clip itself when there is only one). */
export function concatSamples(clips: readonly Int16Array[]): Int16Array {
  if (clips.length === 1 && clips[0]) return clips[0];
  const out = new Int16Array(clips.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const clip of clips) {
    out.set(clip, offset);
    offset += clip.length;
  }
  return out;
}
