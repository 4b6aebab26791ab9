import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import { createOpusCodec } from '../../../src/media/audio/opusCodec.js';
import { encodedSilence, FrameEncoder } from '../../../src/media/audio/opusEncoder.js';
import { rms, sine, toneLevel } from '../../support/tone.js';

/** Decodes a packet to samples with a real decoder. */
function decodeAll(packets: Buffer[]): Int16Array[] {
  const decoder = createOpusCodec();
  return packets.map((p) => {
    const pcm = decoder.decode(p);
    return Int16Array.from({ length: pcm.length / 2 }, (_, i) => pcm.readInt16LE(i * 2));
  });
}

describe('FrameEncoder', () => {
  it('encodes 20 ms frames that decode back to the same tone', () => {
    const encoder = new FrameEncoder({ bitrate: 32_000 });
    const tone = sine(880, 10_000, 10 * FRAME_SAMPLES);
    const packets = Array.from({ length: 10 }, (_, i) => encoder.encode(tone.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)));
    encoder.close();
    for (const p of packets) expect(p.length).toBeLessThan(200);
    const decoded = decodeAll(packets);
    for (const frame of decoded) expect(frame).toHaveLength(FRAME_SAMPLES);
    for (const frame of decoded.slice(2)) expect(toneLevel(frame, 880)).toBeGreaterThan(0.8 * 10_000);
  });

  it('rejects frames of another length, and any frame after close', () => {
    const encoder = new FrameEncoder();
    expect(() => encoder.encode(new Int16Array(480))).toThrow(RangeError);
    encoder.close();
    encoder.close();
    expect(() => encoder.encode(new Int16Array(FRAME_SAMPLES))).toThrow(/closed/);
  });
});

describe('encodedSilence', () => {
  it('is one small shared packet that decodes to 20 ms of silence', () => {
    const silence = encodedSilence();
    expect(encodedSilence()).toBe(silence);
    expect(silence.length).toBeLessThan(10);
    const [frame] = decodeAll([silence]);
    expect(frame).toHaveLength(FRAME_SAMPLES);
    expect(rms(frame!)).toBeLessThan(1);
  });
});
