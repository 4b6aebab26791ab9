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
