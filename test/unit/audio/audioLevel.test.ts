import { describe, expect, it } from 'vitest';
import { audioLevelDbfs } from '../../../src/media/audio/audioLevel.js';
import { AudioInput } from '../../../src/media/audio/decoderInput.js';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import { FrameEncoder } from '../../../src/media/audio/opusEncoder.js';
import { parseRtp } from '../../../src/media/audio/rtp.js';
import { sine, toneLevel } from '../../support/tone.js';

/** An RTP packet with a header extension block made of `elements` (id, bytes), in the one-byte or two-byte form of RFC 8285. */
function withExtensions(elements: [number, number[]][], form: 'one' | 'two', payload = Buffer.from('payload')): Buffer {
  const body: number[] = [];
  for (const [id, bytes] of elements) {
    if (form === 'one') body.push((id << 4) | (bytes.length - 1), ...bytes);
    else body.push(id, bytes.length, ...bytes);
    // Padding between elements, which parsers must skip.
    body.push(0);
  }
  while (body.length % 4 !== 0) body.push(0);
  const header = Buffer.alloc(16);
  header[0] = 0x90;
  header[1] = 111;
  header.writeUInt16BE(7, 2);
  header.writeUInt32BE(960, 4);
  header.writeUInt32BE(0xabcdef, 8);
  header.writeUInt16BE(form === 'one' ? 0xbede : 0x1000, 12);
  header.writeUInt16BE(body.length / 4, 14);
  return Buffer.concat([header, Buffer.from(body), payload]);
}

describe('RFC 6464 audio level', () => {
  it('is read from the one-byte and the two-byte extension forms, next to other elements, without the voice bit', () => {
    for (const form of ['one', 'two'] as const) {
      const packet = withExtensions(
        [
          [4, [0x61, 0x62]],
          [1, [0x80 | 42]],
        ],
        form,
      );
      const parsed = parseRtp(packet, 1);
      expect(parsed?.audioLevel).toBe(42);
      expect(parsed?.payload.toString()).toBe('payload');
      // Another id, or none asked for: no level, the same payload.
      expect(parseRtp(packet, 3)?.audioLevel).toBeUndefined();
      expect(parseRtp(packet)).not.toHaveProperty('audioLevel');
      expect(parseRtp(packet)?.payload.toString()).toBe('payload');
    }
  });

  it('ignores an element that runs past its block, and an unknown profile', () => {
    const packet = withExtensions([[1, [30]]], 'one');
    // Claim a longer element than the block holds.
    packet[16] = (1 << 4) | 7;
    expect(parseRtp(packet, 1)?.audioLevel).toBeUndefined();
    const other = withExtensions([[1, [30]]], 'one');
    other.writeUInt16BE(0x1234, 12);
    expect(parseRtp(other, 1)?.audioLevel).toBeUndefined();
  });

  it('maps to dBFS on the scale the speaking detector measures, 127 being silence', () => {
    expect(audioLevelDbfs(0)).toBe(-0);
    expect(audioLevelDbfs(30)).toBe(-30);
    expect(audioLevelDbfs(127)).toBe(-Infinity);
  });
});

describe('AudioInput taking packets without decoding them', () => {
  /** Frames 0–9 of a 440 Hz tone, then 10–29 of 1320 Hz, Opus-encoded in one stream. */
  function stream(): Buffer[] {
    const encoder = new FrameEncoder();
    const out: Buffer[] = [];
    for (let i = 0; i < 30; i++)
      out.push(encoder.encode(sine(i < 10 ? 440 : 1320, 8000, FRAME_SAMPLES, 48_000, (2 * Math.PI * (i < 10 ? 440 : 1320) * FRAME_SAMPLES * i) / 48_000)));
    encoder.close();
    return out;
  }

  it('keeps the jitter buffer in step while skipping, then decodes the current packet cleanly', () => {
    const packets = stream();
    const input = new AudioInput();
    const levels: (number | undefined)[] = [];
    let decoded: Int16Array | undefined;
    for (let t = 0; t < 16; t++) {
      input.push({ sequenceNumber: t, timestamp: t * FRAME_SAMPLES, payload: packets[t]!, audioLevel: t < 10 ? 20 : 25 });
      const received = input.receive();
      levels.push(received.levelDbfs);
      // Decoded only at tick 15: the packet played then is number 14, the tone of the second part.
      if (t === 15) decoded = input.decode();
    }
    expect(levels[0]).toBeUndefined();
    expect(levels[1]).toBe(-20);
    expect(levels[12]).toBe(-25);
    expect(input.counts.skipped).toBe(14);
    // At full level: the skipped packets before it primed the decoder (a cold one plays its first frames far too quiet).
    expect(toneLevel(decoded!, 1320)).toBeGreaterThan(0.85 * 8000);
    expect(toneLevel(decoded!, 440)).toBeLessThan(400);
    input.close();
  });

  it('reports a gap at the last level less the concealment fade, and nothing once drained', () => {
    const packets = stream();
    const input = new AudioInput();
    input.push({ sequenceNumber: 0, timestamp: 0, payload: packets[0]!, audioLevel: 20 });
    input.push({ sequenceNumber: 1, timestamp: FRAME_SAMPLES, payload: packets[1]!, audioLevel: 20 });
    input.push({ sequenceNumber: 4, timestamp: 4 * FRAME_SAMPLES, payload: packets[4]!, audioLevel: 20 });
    const seen = Array.from({ length: 6 }, () => {
      const r = input.receive();
      return [r.kind, r.levelDbfs];
    });
    expect(seen).toEqual([
      ['frame', -20],
      ['frame', -20],
      ['missing', -26],
      ['missing', -32],
      ['frame', -20],
      ['empty', -Infinity],
    ]);
    input.close();
  });
});
