import { afterEach, describe, expect, it } from 'vitest';
import { dtmfTones } from '../../../src/media/audio/dtmfTones.js';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import type { RtpPacket } from '../../../src/media/audio/rtp.js';
import { createSipEncoder } from '../../../src/media/codecs/sipCodecStreams.js';
import { SIP_CODECS, type SipCodecName } from '../../../src/media/codecs/sipCodecs.js';
import type { DtmfPress } from '../../../src/media/rtp/dtmf.js';
import { Downsampler } from '../../../src/media/rtp/resampler.js';
import { SipAudioInput } from '../../../src/media/rtp/sipAudioInput.js';
import { rms, sine, toneLevel } from '../../support/tone.js';

const AMPLITUDE = 8000;

/** A continuous tone of `ms` milliseconds, encoded in packets of `ptime` ms of `codec`, with their RTP fields. */
function stream(codec: SipCodecName, ms: number, ptime: number, freq = 1000): RtpPacket[] {
  const info = SIP_CODECS[codec];
  const samples = (info.sampleRate * ptime) / 1000;
  const units = (info.clockRate * ptime) / 1000;
  const tone = sine(freq, AMPLITUDE, (info.sampleRate * ms) / 1000, info.sampleRate);
  const encoder = createSipEncoder(codec);
  const packets: RtpPacket[] = [];
  for (let i = 0; (i + 1) * samples <= tone.length; i++) {
    packets.push({
      payloadType: info.offeredPayloadType,
      sequenceNumber: (65_500 + i) & 0xffff,
      timestamp: (0xffff_f000 + i * units) >>> 0,
      ssrc: 7,
      marker: i === 0,
      payload: Buffer.from(encoder.encode(tone.subarray(i * samples, (i + 1) * samples))),
    });
  }
  return packets;
}

/** Feeds packets in step with the 20 ms ticks they belong to (a packet arrives when its last sample is due) and collects each tick's frame. */
function play(input: SipAudioInput, packets: RtpPacket[], ptime: number, extraTicks = 5): (Int16Array | undefined)[] {
  const frames: (Int16Array | undefined)[] = [];
  const ticks = Math.ceil((packets.length * ptime) / 20) + extraTicks;
  let next = 0;
  for (let t = 0; t < ticks; t++) {
    while (next < packets.length && (next + 1) * ptime <= (t + 1) * 20) input.push(packets[next++]!);
    const frame = input.nextFrame();
    frames.push(frame && Int16Array.from(frame));
  }
  return frames;
}

describe('SipAudioInput', () => {
  let input: SipAudioInput | undefined;
  afterEach(() => input?.close());

  it.each([
    ['PCMU', 10],
    ['PCMA', 30],
    ['PCMU', 60],
    ['G722', 20],
    ['G722', 40],
    ['opus', 20],
    ['opus', 60],
  ] as const)('%s in %i ms packets: every tick in the middle of the stream is the tone at its level, none concealed', (codec, ptime) => {
    input = new SipAudioInput({ codec });
    const frames = play(input, stream(codec, 2400, ptime), ptime, 0);
    const middle = frames.slice(10, frames.length - 6);
    expect(middle.length).toBeGreaterThan(80);
    for (const frame of middle) {
      expect(frame).toHaveLength(FRAME_SAMPLES);
      expect(Math.abs(20 * Math.log10(toneLevel(frame!, 1000) / AMPLITUDE))).toBeLessThan(1.5);
    }
    expect(input.stats.concealedSamples).toBe(0);
  });

  it('G.722 carries 6 kHz, which the G.711 laws cannot', () => {
    input = new SipAudioInput({ codec: 'G722' });
    const frames = play(input, stream('G722', 1000, 20, 6000), 20);
    expect(toneLevel(frames[20]!, 6000)).toBeGreaterThan(0.7 * AMPLITUDE);
  });

  it('conceals a lost packet with the last audio fading, then plays on', () => {
    input = new SipAudioInput({ codec: 'PCMU' });
    const packets = stream('PCMU', 2000, 20).filter((_, i) => i !== 40);
    // No ticks past the end: the fade after the last packet would be concealment too.
    const frames = play(input, packets, 20, 0);
    expect(input.stats.concealedSamples).toBe(160);
    const levels = frames.map((f) => (f ? rms(f) : 0));
    const steady = levels[30]!;
    expect(Math.min(...levels.slice(10, 80))).toBeGreaterThan(0.3 * steady);
    expect(toneLevel(frames[70]!, 1000)).toBeGreaterThan(0.8 * AMPLITUDE);
  });

  it('returns silence before the stream starts, after it drains, and after close', () => {
    input = new SipAudioInput({ codec: 'PCMU' });
    expect(input.nextFrame()).toBeUndefined();
    const frames = play(input, stream('PCMU', 400, 20), 20, 20);
    expect(frames.some((f) => f !== undefined)).toBe(true);
    expect(frames.at(-1)).toBeUndefined();
    input.close();
    input.close();
    input.push(stream('PCMU', 100, 20)[0]!);
    expect(input.nextFrame()).toBeUndefined();
  });

  it.each(['PCMA', 'G722'] as const)('%s: reports in-band DTMF when asked to, once per key', (codec) => {
    const info = SIP_CODECS[codec];
    const tones = dtmfTones('42#');
    const down = new Downsampler(info.sampleRate === 8000 ? 6 : 3);
    const encoder = createSipEncoder(codec);
    const presses: DtmfPress[] = [];
    input = new SipAudioInput({ codec, onInbandDtmf: (p) => presses.push(p) });
    let seq = 0;
    for (let i = 0; i + FRAME_SAMPLES <= tones.length; i += FRAME_SAMPLES) {
      const payload = Buffer.from(encoder.encode(down.process(tones.subarray(i, i + FRAME_SAMPLES))));
      input.push({ payloadType: info.offeredPayloadType, sequenceNumber: seq, timestamp: seq * 160, ssrc: 1, marker: false, payload });
      seq++;
      input.nextFrame();
    }
    for (let i = 0; i < 10; i++) input.nextFrame();
    expect(presses.map((p) => p.digit)).toEqual(['4', '2', '#']);
  });
});
