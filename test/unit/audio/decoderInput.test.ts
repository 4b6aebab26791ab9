import { afterEach, describe, expect, it } from 'vitest';
import { AudioInput } from '../../../src/media/audio/decoderInput.js';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import { FrameEncoder } from '../../../src/media/audio/opusEncoder.js';
import { rms, sine, toneLevel } from '../../support/tone.js';

const AMPLITUDE = 8000;

/** `count` consecutive 20 ms frames of one continuous 440 Hz tone, Opus-encoded. */
function encodedTone(count: number): Buffer[] {
  const encoder = new FrameEncoder();
  const tone = sine(440, AMPLITUDE, count * FRAME_SAMPLES);
  const packets = Array.from({ length: count }, (_, i) => encoder.encode(tone.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)));
  encoder.close();
  return packets;
}

const packet = (seq: number, payload: Buffer) => ({ sequenceNumber: seq & 0xffff, timestamp: seq * FRAME_SAMPLES, payload });

/** One tick: copies the frame, since the input reuses its arrays. */
const tick = (input: AudioInput): Int16Array | undefined => {
  const frame = input.nextFrame();
  return frame && Int16Array.from(frame);
};

describe('AudioInput', () => {
  let input: AudioInput | undefined;
  afterEach(() => input?.close());

  it('decodes a reordered stream with one loss back to the tone, concealing the gap at half level', () => {
    const packets = encodedTone(50);
    const base = 65520; // sequence numbers wrap during the call
    input = new AudioInput();
    const frames: (Int16Array | undefined)[] = [];
    for (let t = 0; t <= 51; t++) {
      // Packets arrive one per tick with each pair swapped (1, 0, 3, 2, …); packet 20 never arrives.
      const seq = t ^ 1;
      const payload = packets[seq];
      if (payload !== undefined && seq !== 20) input.push(packet(base + seq, payload));
      frames.push(tick(input));
    }

    // Packet k plays at tick k + 1, after the 40 ms of buffering.
    expect(frames[0]).toBeUndefined();
    expect(frames[51]).toBeUndefined();
    for (let t = 1; t <= 50; t++) expect(frames[t]).toHaveLength(FRAME_SAMPLES);
    // The codec's lookahead delays the tone a few ms, so the first frame is partly silent.
    for (let t = 3; t <= 50; t++) {
      if (t === 21) continue;
      expect(toneLevel(frames[t]!, 440)).toBeGreaterThan(0.5 * AMPLITUDE);
      expect(toneLevel(frames[t]!, 440)).toBeLessThan(1.2 * AMPLITUDE);
      expect(toneLevel(frames[t]!, 1320)).toBeLessThan(0.05 * AMPLITUDE);
    }
    const concealed = frames[21]!;
    expect(rms(concealed) / rms(frames[20]!)).toBeCloseTo(0.5, 2);
    expect(toneLevel(concealed, 440) / toneLevel(frames[20]!, 440)).toBeCloseTo(0.5, 1);
    // Decoding resumes cleanly after the gap.
    expect(toneLevel(frames[22]!, 440)).toBeGreaterThan(0.5 * AMPLITUDE);
  });

  it('fades a longer loss out over two frames, then goes silent until packets come again', () => {
    const packets = encodedTone(12);
    input = new AudioInput();
    input.push(packet(0, packets[0]!));
    input.push(packet(1, packets[1]!));
    const frames = [tick(input)];
    input.push(packet(2, packets[2]!));
    frames.push(tick(input));
    // 3 to 8 are lost; 9 and 10 are already here.
    input.push(packet(9, packets[9]!));
    input.push(packet(10, packets[10]!));
    for (let t = 0; t < 9; t++) frames.push(tick(input));

    const last = frames[2]!;
    expect(toneLevel(last, 440)).toBeGreaterThan(0.5 * AMPLITUDE);
    expect(rms(frames[3]!) / rms(last)).toBeCloseTo(0.5, 2);
    expect(rms(frames[4]!) / rms(last)).toBeCloseTo(0.25, 2);
    expect(frames.slice(5, 9)).toEqual([undefined, undefined, undefined, undefined]);
    expect(toneLevel(frames[9]!, 440)).toBeGreaterThan(0.5 * AMPLITUDE);
    expect(frames[10]).toHaveLength(FRAME_SAMPLES);
    expect(frames[11]).toBeUndefined();
  });

  it('treats a corrupt or empty payload as a loss and never throws', () => {
    const packets = encodedTone(6);
    input = new AudioInput();
    const payloads = [packets[0]!, packets[1]!, packets[2]!, Buffer.from([0xff, 0xff, 0xff, 1, 2, 3]), Buffer.alloc(0), packets[5]!];
    payloads.forEach((p, i) => input!.push(packet(i, p)));
    const frames = Array.from({ length: 6 }, () => tick(input!));
    expect(toneLevel(frames[2]!, 440)).toBeGreaterThan(0.5 * AMPLITUDE);
    expect(rms(frames[3]!) / rms(frames[2]!)).toBeCloseTo(0.5, 2);
    expect(rms(frames[4]!) / rms(frames[2]!)).toBeCloseTo(0.25, 2);
    expect(toneLevel(frames[5]!, 440)).toBeGreaterThan(0.5 * AMPLITUDE);
  });

  it('counts a packet that does not decode to exactly 20 ms as a loss', () => {
    const decoded = [Buffer.alloc(FRAME_SAMPLES * 2, 0x10), Buffer.alloc(FRAME_SAMPLES, 0x10)];
    input = new AudioInput({ decoder: { decode: () => decoded.shift() ?? Buffer.alloc(0) } });
    input.push(packet(0, Buffer.from([1])));
    input.push(packet(1, Buffer.from([1])));
    expect(tick(input)?.[0]).toBe(0x1010);
    expect(tick(input)?.[0]).toBe(0x1010 / 2);
  });

  it('plays nothing before the stream starts, after it drains, or after close', () => {
    const packets = encodedTone(2);
    input = new AudioInput();
    expect(input.nextFrame()).toBeUndefined();
    input.push(packet(0, packets[0]!));
    input.push(packet(1, packets[1]!));
    expect(input.nextFrame()).toBeDefined();
    input.close();
    input.close();
    expect(input.nextFrame()).toBeUndefined();
    input.push(packet(2, packets[0]!));
    expect(input.nextFrame()).toBeUndefined();
  });
});
