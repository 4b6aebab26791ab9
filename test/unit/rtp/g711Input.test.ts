import { afterEach, describe, expect, it } from 'vitest';
import { dtmfTones } from '../../../src/media/audio/dtmfTones.js';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import type { DtmfPress } from '../../../src/media/rtp/dtmf.js';
import { encodeG711, G711_FRAME_SAMPLES, type G711Codec } from '../../../src/media/rtp/g711.js';
import { G711Input } from '../../../src/media/rtp/g711Input.js';
import { Downsampler } from '../../../src/media/rtp/resampler.js';
import { rms, sine, toneLevel } from '../../support/tone.js';

const AMPLITUDE = 8000;

/** `count` consecutive 20 ms frames of a continuous 8 kHz tone, G.711-encoded. */
function encodedTone(codec: G711Codec, count: number, freq = 1000): Buffer[] {
  const tone = sine(freq, AMPLITUDE, count * G711_FRAME_SAMPLES, 8000);
  return Array.from({ length: count }, (_, i) => encodeG711(codec, tone.subarray(i * G711_FRAME_SAMPLES, (i + 1) * G711_FRAME_SAMPLES)));
}

const packet = (seq: number, payload: Buffer) => ({ sequenceNumber: seq & 0xffff, timestamp: seq * G711_FRAME_SAMPLES, payload });
const tick = (input: G711Input) => {
  const frame = input.nextFrame();
  return frame && Int16Array.from(frame);
};

describe('G711Input', () => {
  let input: G711Input | undefined;
  afterEach(() => input?.close());

  it.each(['PCMU', 'PCMA'] as const)('%s: decodes a reordered stream to 48 kHz frames of the tone at its level', (codec) => {
    const packets = encodedTone(codec, 30);
    input = new G711Input({ codec });
    const frames: (Int16Array | undefined)[] = [];
    for (let t = 0; t < 32; t++) {
      const seq = t ^ 1;
      const payload = packets[seq];
      if (payload) input.push(packet(65530 + seq, payload));
      frames.push(tick(input));
    }
    expect(frames[0]).toBeUndefined();
    for (let t = 2; t <= 30; t++) {
      const frame = frames[t]!;
      expect(frame).toHaveLength(FRAME_SAMPLES);
      expect(Math.abs(20 * Math.log10(toneLevel(frame, 1000) / AMPLITUDE))).toBeLessThan(1);
      // No image of the 8 kHz sampling at 7 kHz.
      expect(toneLevel(frame, 7000)).toBeLessThan(AMPLITUDE / 300);
    }
  });

  it('conceals a loss with the last frame fading out, then silence, and resumes cleanly', () => {
    const packets = encodedTone('PCMU', 40);
    input = new G711Input({ codec: 'PCMU' });
    const lost = new Set([10, 20, 21, 22, 23, 24]);
    const frames: (Int16Array | undefined)[] = [];
    for (let t = 0; t < 40; t++) {
      if (!lost.has(t)) input.push(packet(t, packets[t]!));
      frames.push(tick(input));
    }
    // Packet k plays at tick k + 1.
    const level = (t: number) => rms(frames[t]!);
    expect(level(11)).toBeGreaterThan(0.5 * level(10));
    expect(level(11)).toBeLessThan(0.9 * level(10));
    expect(level(21)).toBeLessThan(level(20));
    expect(level(22)).toBeLessThan(level(21));
    expect(level(23)).toBeLessThan(level(22));
    expect(frames[24]).toBeUndefined();
    expect(frames[25]).toBeUndefined();
    expect(toneLevel(frames[27]!, 1000)).toBeGreaterThan(0.8 * AMPLITUDE);
  });

  it('counts a payload that is not 20 ms as a loss', () => {
    const packets = encodedTone('PCMA', 5);
    input = new G711Input({ codec: 'PCMA' });
    input.push(packet(0, packets[0]!));
    input.push(packet(1, packets[1]!.subarray(0, 80)));
    input.push(packet(2, packets[2]!));
    const good = tick(input)!;
    const concealed = tick(input)!;
    expect(rms(concealed)).toBeLessThan(rms(good));
    expect(rms(concealed)).toBeGreaterThan(0.5 * rms(good));
    expect(input.jitter.stats.missing).toBe(0);
  });

  it('returns silence before the stream starts, after it drains, and after close', () => {
    input = new G711Input({ codec: 'PCMU' });
    expect(input.nextFrame()).toBeUndefined();
    input.push(packet(0, encodedTone('PCMU', 1)[0]!));
    input.push(packet(1, encodedTone('PCMU', 1)[0]!));
    expect(input.nextFrame()).toBeDefined();
    input.close();
    input.close();
    expect(input.nextFrame()).toBeUndefined();
  });

  it('reports in-band DTMF when asked to, once per key', () => {
    const tones = dtmfTones('42#');
    const down = new Downsampler();
    const presses: DtmfPress[] = [];
    input = new G711Input({ codec: 'PCMA', onInbandDtmf: (p) => presses.push(p) });
    let seq = 0;
    for (let i = 0; i + FRAME_SAMPLES <= tones.length; i += FRAME_SAMPLES) {
      input.push(packet(seq++, encodeG711('PCMA', down.process(tones.subarray(i, i + FRAME_SAMPLES)))));
      input.nextFrame();
    }
    for (let i = 0; i < 5; i++) input.nextFrame();
    expect(presses.map((p) => p.digit)).toEqual(['4', '2', '#']);
  });
});
