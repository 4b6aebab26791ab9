import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import { createSipDecoder } from '../../../src/media/codecs/sipCodecStreams.js';
import { AudioSendStream } from '../../../src/media/rtp/audioSendStream.js';
import { decodeG711, encodeG711 } from '../../../src/media/rtp/g711.js';
import { sine, toneLevel } from '../../support/tone.js';

/**
 * The send stream fed the three ways the bridge feeds a SIP leg: its own 48 kHz mix (`tick`), a
 * mix summed at the codec's rate (`tickNative`), and a tick encoded once for several legs
 * (`tickEncoded`), in any order, at any packet time.
 */

interface Sent {
  pt: number;
  ts: number;
  marker: boolean;
  payload: Buffer;
}

type Feed = 'wide' | 'native' | 'encoded';

/** The Upsampler's delay, in 48 kHz samples. */
const UP_DELAY = 71;

const db = (x: number): number => 20 * Math.log10(x);

/** RMS of what is left of `x` once the best steady sine of `hz` (any level and phase) is taken out. */
function offTone(x: Int16Array, hz: number, rate: number): number {
  let ss = 0;
  let cc = 0;
  let sc = 0;
  let xs = 0;
  let xc = 0;
  for (let i = 0; i < x.length; i++) {
    const s = Math.sin((2 * Math.PI * hz * i) / rate);
    const c = Math.cos((2 * Math.PI * hz * i) / rate);
    const v = x[i] ?? 0;
    ss += s * s;
    cc += c * c;
    sc += s * c;
    xs += v * s;
    xc += v * c;
  }
  const det = ss * cc - sc * sc;
  const a = (xs * cc - xc * sc) / det;
  const b = (xc * ss - xs * sc) / det;
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const fit = a * Math.sin((2 * Math.PI * hz * i) / rate) + b * Math.cos((2 * Math.PI * hz * i) / rate);
    sum += ((x[i] ?? 0) - fit) ** 2;
  }
  return Math.sqrt(sum / x.length);
}

/** Sends `ticks` ticks of a 700 Hz tone, the way `feed(t)` says for tick t; returns the packets. */
function send(stream: AudioSendStream, codec: 'PCMU' | 'G722', ticks: number, feed: (t: number) => Feed): Sent[] {
  const rate = codec === 'G722' ? 16_000 : 8000;
  const perTick = rate / 50;
  // A bridge's 48 kHz mix of a speaker at the codec's rate is that speaker brought up: 71 samples late.
  const wide = sine(700, 9000, FRAME_SAMPLES * ticks, 48_000, (-2 * Math.PI * 700 * UP_DELAY) / 48_000);
  const narrow = sine(700, 9000, perTick * ticks, rate);
  const sent: Sent[] = [];
  const sink = (pt: number, ts: number, marker: boolean, payload: Uint8Array): boolean => {
    sent.push({ pt, ts, marker, payload: Buffer.from(payload) });
    return true;
  };
  for (let t = 0; t < ticks; t++) {
    const low = narrow.subarray(t * perTick, (t + 1) * perTick);
    const how = feed(t);
    if (how === 'wide') stream.tick(wide.subarray(t * FRAME_SAMPLES, (t + 1) * FRAME_SAMPLES), sink);
    else if (how === 'native') stream.tickNative(low, sink);
    else stream.tickEncoded(encodeG711('PCMU', low), sink);
  }
  return sent;
}

const rotation: readonly Feed[] = ['native', 'native', 'encoded', 'wide', 'encoded', 'native', 'wide', 'wide', 'encoded'];

describe('AudioSendStream fed by a bridge that mixes at the codec’s rate and shares encodings', () => {
  it.each([10, 20, 30, 40, 60])('%i ms G.711 packets stay full and on a steady clock whichever way each tick comes', (ptime) => {
    const stream = new AudioSendStream(5000);
    stream.configure({ payloadType: 0, codec: 'PCMU', ptime });
    const sent = send(stream, 'PCMU', 90, (t) => rotation[t % rotation.length]!);
    const bytes = ptime * 8;
    expect(sent).toHaveLength(Math.floor((90 * 160) / bytes));
    sent.forEach((p, i) => {
      expect(p.payload).toHaveLength(bytes);
      expect(p.ts).toBe(5000 + i * bytes);
      expect(p.marker).toBe(i === 0);
    });
    // Once the filter has filled, every 5 ms is the steady tone and nothing else: no gap where 48 kHz
    // ticks come back after others (the downsampler picks up where they ended). 700 Hz repeats every
    // 11.4 samples, so the 48 kHz path's 22.8 samples of delay does not show; a gap or a step would.
    const pcm = decodeG711('PCMU', Buffer.concat(sent.map((p) => p.payload)));
    for (let at = 160; at + 40 <= pcm.length; at += 20) {
      expect(Math.abs(db(toneLevel(pcm.subarray(at, at + 40), 700, 8000) / 9000)), `level at ${at}`).toBeLessThan(1.5);
      expect(offTone(pcm.subarray(at, at + 40), 700, 8000), `off-tone at ${at}`).toBeLessThan(0.05 * 9000);
    }
  });

  it('a tick at the codec’s rate and a tick already encoded go out as exactly those codes', () => {
    const stream = new AudioSendStream(0);
    stream.configure({ payloadType: 0, codec: 'PCMU', ptime: 20 });
    const low = sine(700, 9000, 160, 8000);
    const sent: Buffer[] = [];
    const sink = (_pt: number, _ts: number, _marker: boolean, payload: Uint8Array): boolean => (sent.push(Buffer.from(payload)), true);
    stream.tickNative(low, sink);
    stream.tickEncoded(encodeG711('PCMU', low), sink);
    expect(sent).toEqual([encodeG711('PCMU', low), encodeG711('PCMU', low)]);
  });

  it('G.722: ticks at 16 kHz and at 48 kHz join in one stream that carries a 6 kHz tone throughout', () => {
    const stream = new AudioSendStream(0);
    stream.configure({ payloadType: 9, codec: 'G722', ptime: 30 });
    const rate = 16_000;
    const wide = sine(6000, 9000, FRAME_SAMPLES * 40);
    const narrow = sine(6000, 9000, 320 * 40, rate);
    const sent: Sent[] = [];
    const sink = (pt: number, ts: number, marker: boolean, payload: Uint8Array): boolean => (
      sent.push({ pt, ts, marker, payload: Buffer.from(payload) }),
      true
    );
    for (let t = 0; t < 40; t++) {
      if (Math.floor(t / 5) % 2 === 0) stream.tickNative(narrow.subarray(t * 320, (t + 1) * 320), sink);
      else stream.tick(wide.subarray(t * FRAME_SAMPLES, (t + 1) * FRAME_SAMPLES), sink);
    }
    expect(sent.every((p, i) => p.payload.length === 240 && p.ts === i * 240)).toBe(true);
    const decoder = createSipDecoder('G722');
    const pcm = Int16Array.from(sent.flatMap((p) => Array.from(decoder.decode(p.payload))));
    for (let at = 640; at + 320 <= pcm.length; at += 320) {
      expect(Math.abs(db(toneLevel(pcm.subarray(at, at + 320), 6000, rate) / 9000))).toBeLessThan(2);
    }
  });

  it('sends telephone-events in place of shared ticks on the same clock, then resumes with a new talkspurt', () => {
    const stream = new AudioSendStream(0);
    stream.configure({ payloadType: 0, codec: 'PCMU', ptime: 20, telephoneEventPt: 101 });
    stream.enqueueDtmf('7');
    const sent = send(stream, 'PCMU', 20, () => 'encoded');
    const events = sent.filter((p) => p.pt === 101);
    expect(events.length).toBeGreaterThanOrEqual(5);
    expect(events.every((p) => p.ts === 0)).toBe(true);
    const audio = sent.filter((p) => p.pt === 0);
    expect(audio[0]?.marker).toBe(true);
    expect(audio.every((p, i) => p.ts === audio[0]!.ts + i * 160 && p.marker === (i === 0))).toBe(true);
    expect(sent.length).toBe(20);
  });

  it('refuses a tick at the codec’s rate of the wrong length', () => {
    const stream = new AudioSendStream(0);
    stream.configure({ payloadType: 9, codec: 'G722', ptime: 20 });
    expect(() => stream.tickNative(new Int16Array(160), () => true)).toThrow(RangeError);
  });
});
