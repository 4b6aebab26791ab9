/**
 * The duration of an Opus packet from its TOC byte (RFC 6716 §3.1), so that a receive path ordered
 * by RTP timestamp knows how much audio each packet covers before decoding it.
 */

/** Frame length in 48 kHz samples for each of the 32 TOC configurations. */
const FRAME_SAMPLES_BY_CONFIG: readonly number[] = [
  // SILK-only NB, MB, WB: 10, 20, 40, 60 ms
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,
  // Hybrid SWB, FB: 10, 20 ms
  480, 960, 480, 960,
  // CELT-only NB, WB, SWB, FB: 2.5, 5, 10, 20 ms
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,
];

/** RFC 6716 §3.2.5: no packet holds more than 120 ms. */
const MAX_PACKET_SAMPLES = 5760;

/** Samples (48 kHz) in an Opus packet, or undefined when its header is not a valid packet's. */
export function opusPacketSamples(payload: Uint8Array): number | undefined {
  const toc = payload[0];
  if (toc === undefined) return undefined;
  const frameSamples = FRAME_SAMPLES_BY_CONFIG[toc >> 3] ?? 0;
  let frames: number;
  switch (toc & 0x03) {
    case 0:
      frames = 1;
      break;
    case 1:
    case 2:
      frames = 2;
      break;
    default: {
      const count = payload[1];
      if (count === undefined) return undefined;
      frames = count & 0x3f;
    }
  }
  const samples = frames * frameSamples;
  return samples === 0 || samples > MAX_PACKET_SAMPLES ? undefined : samples;
}
