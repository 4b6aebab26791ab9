import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import { opusPacketSamples } from '../../../src/media/codecs/opusPacket.js';
import { createSipDecoder } from '../../../src/media/codecs/sipCodecStreams.js';
import { AudioSendStream } from '../../../src/media/rtp/audioSendStream.js';
import { decodeG711, encodeG711 } from '../../../src/media/rtp/g711.js';
import { Downsampler } from '../../../src/media/rtp/resampler.js';
import { sine, toneLevel } from '../../support/tone.js';

interface Sent {
  pt: number;
  ts: number;
  marker: boolean;
  payload: Buffer;
}

function run(stream: AudioSendStream, signal: Int16Array): Sent[] {
  const sent: Sent[] = [];
  for (let i = 0; i + FRAME_SAMPLES <= signal.length; i += FRAME_SAMPLES) {
    stream.tick(signal.subarray(i, i + FRAME_SAMPLES), (pt, ts, marker, payload) => {
      sent.push({ pt, ts, marker, payload: Buffer.from(payload) });
      return true;
    });
  }
  return sent;
}

describe('AudioSendStream', () => {
  it.each([10, 20, 30, 40, 60])('sends %i ms G.711 packets that carry every sample once, in order, on a steady clock', (ptime) => {
    const stream = new AudioSendStream(1000);
    stream.configure({ payloadType: 0, codec: 'PCMU', ptime });
    const signal = sine(700, 9000, FRAME_SAMPLES * 60);
    const sent = run(stream, signal);
    const samples = (ptime * 8000) / 1000;
    expect(sent).toHaveLength(Math.floor((60 * 160) / samples));
    expect(sent.every((p) => p.payload.length === samples && p.pt === 0)).toBe(true);
    expect(sent.map((p) => p.marker)).toEqual([true, ...new Array<boolean>(sent.length - 1).fill(false)]);
    sent.forEach((p, i) => expect(p.ts).toBe(1000 + i * samples));
    // Exactly what one continuous downsample and µ-law pass of the signal gives.
    const reference = decodeG711('PCMU', encodeG711('PCMU', new Downsampler().process(signal)));
    const received = decodeG711('PCMU', Buffer.concat(sent.map((p) => p.payload)));
    expect(Array.from(received)).toEqual(Array.from(reference.subarray(0, received.length)));
  });

  it('G.722: 20 ms packets of 160 bytes on its 8 kHz RTP clock, carrying a 6 kHz tone that G.711 could not', () => {
    const stream = new AudioSendStream(0);
    stream.configure({ payloadType: 9, codec: 'G722', ptime: 20 });
    const sent = run(stream, sine(6000, 9000, FRAME_SAMPLES * 50));
    expect(sent).toHaveLength(50);
    expect(sent.every((p, i) => p.payload.length === 160 && p.ts === i * 160)).toBe(true);
    const decoder = createSipDecoder('G722');
    const pcm = Int16Array.from(sent.flatMap((p) => Array.from(decoder.decode(p.payload))));
    expect(toneLevel(pcm.subarray(3200), 6000, 16_000)).toBeGreaterThan(9000 * 0.7);
  });

  it('Opus: 20, 40 and 60 ms packets whose TOC says their length, on the 48 kHz clock', () => {
    for (const ptime of [20, 40, 60]) {
      const stream = new AudioSendStream(0);
      stream.configure({ payloadType: 111, codec: 'opus', ptime });
      const sent = run(stream, sine(440, 9000, FRAME_SAMPLES * 30));
      const samples = ptime * 48;
      expect(sent).toHaveLength((30 * 960) / samples);
      for (const [i, p] of sent.entries()) {
        expect(p.ts).toBe(i * samples);
        expect(opusPacketSamples(p.payload)).toBe(samples);
      }
    }
  });

  it('sends telephone-events in place of audio on the same clock, then resumes audio as a new talkspurt', () => {
    const stream = new AudioSendStream(0);
    stream.configure({ payloadType: 8, codec: 'PCMA', ptime: 30, telephoneEventPt: 101 });
    stream.enqueueDtmf('5');
    const sent = run(stream, sine(700, 9000, FRAME_SAMPLES * 20));
    const events = sent.filter((p) => p.pt === 101);
    expect(events.length).toBeGreaterThanOrEqual(5);
    expect(events.every((p) => p.ts === 0)).toBe(true);
    const firstAudio = sent.find((p) => p.pt === 8);
    expect(firstAudio?.marker).toBe(true);
    expect(firstAudio!.ts % 160).toBe(0);
    expect(firstAudio!.ts).toBeGreaterThan(0);
  });
});
