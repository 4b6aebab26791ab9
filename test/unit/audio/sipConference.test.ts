import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { FRAME_MS, FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import type { RtpPacket } from '../../../src/media/audio/rtp.js';
import { AudioBridge } from '../../../src/media/bridge/audioBridge.js';
import type { LegAudio } from '../../../src/media/bridge/legAudio.js';
import { Player, Tap } from '../../../src/media/bridge/sources.js';
import { createSipDecoder, createSipEncoder } from '../../../src/media/codecs/sipCodecStreams.js';
import { SIP_CODECS } from '../../../src/media/codecs/sipCodecs.js';
import { AudioSendStream } from '../../../src/media/rtp/audioSendStream.js';
import { decodeG711, encodeG711 } from '../../../src/media/rtp/g711.js';
import type { RtpCodecConfig, RtpEndpoint, RtpEndpointEvents } from '../../../src/media/rtp/rtpEndpoint.js';
import { RtpLegAudio } from '../../../src/media/rtp/rtpLegAudio.js';
import { sine, toneLevel } from '../../support/tone.js';

type Codec = 'PCMU' | 'PCMA' | 'G722';

interface SentPacket {
  ts: number;
  marker: boolean;
  payload: Buffer;
}

/**
 * A SIP leg without sockets: the real RtpLegAudio on a stand-in for RtpEndpoint that hands it one
 * packet of its tone per tick (encoded by the real encoder) and runs what the bridge sends through
 * the real send stream, keeping the packets and their audio decoded by a real decoder.
 */
class SipToneLeg {
  readonly packets: SentPacket[] = [];
  readonly audio: RtpLegAudio;
  private readonly output = new AudioSendStream(0);
  private readonly encoder;
  private rtp: ((packet: RtpPacket) => void) | undefined;
  private seq = 0;
  private ts = 0;
  private phase = 0;
  readonly rate: number;
  readonly config: RtpCodecConfig;

  constructor(
    readonly id: string,
    codec: Codec,
    /** Hz; 0 sends digital silence. */
    public frequency: number,
    public amplitude = 6000,
    ptime = 20,
  ) {
    this.config = { payloadType: codec === 'PCMA' ? 8 : codec === 'G722' ? 9 : 0, codec, ptime };
    this.output.configure(this.config);
    this.encoder = createSipEncoder(codec);
    this.rate = SIP_CODECS[codec].sampleRate;
    this.audio = new RtpLegAudio(this as unknown as RtpEndpoint);
  }

  get codec(): RtpCodecConfig {
    return this.config;
  }

  on<E extends keyof RtpEndpointEvents>(event: E, listener: (...args: RtpEndpointEvents[E]) => void): () => void {
    if (event === 'rtp') this.rtp = listener;
    return () => undefined;
  }

  sendFrame(pcm48: Int16Array): void {
    this.output.tick(pcm48, this.sink);
  }

  sendNative(pcm: Int16Array): void {
    this.output.tickNative(pcm, this.sink);
  }

  sendEncoded(payload: Uint8Array): void {
    this.output.tickEncoded(payload, this.sink);
  }

  /** Sends the bridge one 20 ms packet of its tone. */
  speak(): void {
    const samples = (this.rate * FRAME_MS) / 1000;
    const pcm = this.frequency === 0 ? new Int16Array(samples) : sine(this.frequency, this.amplitude, samples, this.rate, this.phase);
    this.phase += (2 * Math.PI * this.frequency * samples) / this.rate;
    const payload = Buffer.from(this.encoder.encode(pcm));
    this.rtp?.({ payloadType: this.config.payloadType, sequenceNumber: this.seq++ & 0xffff, timestamp: this.ts, ssrc: 0x5150, marker: false, payload });
    this.ts = (this.ts + 160) >>> 0;
  }

  /** Everything it was sent, decoded, at its codec's rate. */
  heardPcm(): Int16Array {
    const decoder = createSipDecoder(this.config.codec);
    const parts = this.packets.map((p) => Int16Array.from(decoder.decode(p.payload)));
    const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  }

  /** Level of `freq` in the last `ms` of what it heard. */
  hears(freq: number, ms = 200): number {
    const pcm = this.heardPcm();
    return toneLevel(pcm.subarray(pcm.length - (this.rate * ms) / 1000), freq, this.rate);
  }

  private readonly sink = (_pt: number, ts: number, marker: boolean, payload: Uint8Array): boolean => {
    this.packets.push({ ts, marker, payload: Buffer.from(payload) });
    return true;
  };
}

/** A 48 kHz leg with the basic LegAudio only (a WebRTC leg as the mix sees it): keeps what it is sent. */
class WideLeg implements LegAudio {
  readonly heard: number[] = [];
  private phase = 0;

  constructor(
    readonly id: string,
    public frequency = 0,
  ) {}

  nextFrame(): Int16Array | undefined {
    if (this.frequency === 0) return undefined;
    const frame = sine(this.frequency, 6000, FRAME_SAMPLES, 48_000, this.phase);
    this.phase += (2 * Math.PI * this.frequency * FRAME_SAMPLES) / 48_000;
    return frame;
  }

  send(mix: Int16Array): void {
    for (const s of mix) this.heard.push(s);
  }

  sendSilence(): void {
    for (let i = 0; i < FRAME_SAMPLES; i++) this.heard.push(0);
  }

  close(): void {}

  hears(freq: number, ms = 200): number {
    return toneLevel(this.heard.slice(-(48 * ms)), freq);
  }
}

/**
 * What is left of `x` once the best sum of steady tones at `freqs` (any level and phase each, and
 * an offset) is taken out, as RMS: small for steady tones, large where they break off (a gap, a
 * filter starting from nothing) inside the span.
 */
function residualAfterTones(x: ArrayLike<number>, freqs: readonly number[], rate: number): number {
  const k = freqs.length * 2 + 1;
  const basis = (i: number, j: number): number => {
    if (j === k - 1) return 1;
    const w = (2 * Math.PI * (freqs[j >> 1] ?? 0) * i) / rate;
    return j % 2 === 0 ? Math.sin(w) : Math.cos(w);
  };
  // Least squares by the normal equations, solved by Gauss-Jordan elimination.
  const m = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  for (let i = 0; i < x.length; i++) {
    for (let r = 0; r < k; r++) {
      const row = m[r]!;
      const br = basis(i, r);
      for (let c = 0; c < k; c++) row[c]! += br * basis(i, c);
      row[k]! += br * (x[i] ?? 0);
    }
  }
  for (let c = 0; c < k; c++) {
    let pivot = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[pivot]![c]!)) pivot = r;
    [m[c], m[pivot]] = [m[pivot]!, m[c]!];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let cc = c; cc <= k; cc++) m[r]![cc]! -= f * m[c]![cc]!;
    }
  }
  const coef = m.map((row, r) => row[k]! / row[r]!);
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    let fit = 0;
    for (let j = 0; j < k; j++) fit += coef[j]! * basis(i, j);
    sum += ((x[i] ?? 0) - fit) ** 2;
  }
  return Math.sqrt(sum / x.length);
}

const logger = pino({ level: 'silent' });
const db = (x: number): number => 20 * Math.log10(x);
/** Tones that repeat every 20 ms at 8 kHz (a whole number of cycles per frame), so every tick's frame is the same. */
const A_HZ = 500;
const B_HZ = 1100;
const C_HZ = 1700;
/** Below this, a tone is not there (about −46 dBFS). */
const SILENT = 150;

describe('the conference bridge with SIP legs', () => {
  const bridges: AudioBridge[] = [];
  afterEach(() => {
    for (const b of bridges.splice(0)) b.close();
  });

  function bridgeOf(legs: readonly SipToneLeg[], wide: readonly WideLeg[] = []): AudioBridge {
    const bridge = new AudioBridge('CON-sip', () => undefined, logger, { manual: true });
    bridges.push(bridge);
    for (const leg of legs) bridge.addLeg(leg.id, leg.audio);
    for (const leg of wide) bridge.addLeg(leg.id, leg);
    return bridge;
  }

  function run(bridge: AudioBridge, legs: readonly SipToneLeg[], ticks: number, each?: (tick: number) => void): void {
    for (let t = 0; t < ticks; t++) {
      for (const leg of legs) leg.speak();
      bridge.tick();
      each?.(t);
    }
  }

  it('mixes a G.711 conference at 8 kHz: listeners get exactly the µ-law of the two speakers summed, each speaker exactly the other, no one itself', () => {
    const legs = [new SipToneLeg('a', 'PCMU', A_HZ), new SipToneLeg('b', 'PCMU', B_HZ), new SipToneLeg('c', 'PCMU', 0), new SipToneLeg('d', 'PCMU', 0)];
    const bridge = bridgeOf(legs);
    run(bridge, legs, 60);
    const [a, b, c, d] = legs as [SipToneLeg, SipToneLeg, SipToneLeg, SipToneLeg];
    const toneA = decodeG711('PCMU', encodeG711('PCMU', sine(A_HZ, 6000, 160, 8000)));
    const toneB = decodeG711('PCMU', encodeG711('PCMU', sine(B_HZ, 6000, 160, 8000)));
    const expected = encodeG711(
      'PCMU',
      toneA.map((x, i) => x + (toneB[i] ?? 0)),
    );
    for (const listener of [c, d]) {
      const last = listener.packets.slice(-20);
      expect(last).toHaveLength(20);
      for (const p of last) expect(p.payload.equals(expected)).toBe(true);
      expect(Math.abs(db(listener.hears(A_HZ) / 6000))).toBeLessThan(0.5);
      expect(Math.abs(db(listener.hears(B_HZ) / 6000))).toBeLessThan(0.5);
    }
    // Each speaker hears the other's codes exactly, and nothing of itself.
    for (const p of a.packets.slice(-20)) expect(p.payload.equals(encodeG711('PCMU', toneB))).toBe(true);
    for (const p of b.packets.slice(-20)) expect(p.payload.equals(encodeG711('PCMU', toneA))).toBe(true);
    expect(a.hears(A_HZ)).toBeLessThan(SILENT);
    expect(b.hears(B_HZ)).toBeLessThan(SILENT);
    expect(bridge.stats.sharedEncoded).toBeGreaterThan(0);
  });

  it('with three speakers, each hears the other two and not itself; PCMA and PCMU listeners both hear all three', () => {
    const legs = [
      new SipToneLeg('a', 'PCMU', A_HZ),
      new SipToneLeg('b', 'PCMA', B_HZ),
      new SipToneLeg('c', 'PCMU', C_HZ),
      new SipToneLeg('mu', 'PCMU', 0),
      new SipToneLeg('ma', 'PCMA', 0),
    ];
    const bridge = bridgeOf(legs);
    run(bridge, legs, 60);
    const tones = [A_HZ, B_HZ, C_HZ];
    legs.slice(0, 3).forEach((speaker, i) => {
      tones.forEach((hz, j) => {
        if (i === j) expect(speaker.hears(hz)).toBeLessThan(SILENT);
        else expect(Math.abs(db(speaker.hears(hz) / 6000))).toBeLessThan(0.5);
      });
    });
    for (const listener of legs.slice(3)) for (const hz of tones) expect(Math.abs(db(listener.hears(hz) / 6000))).toBeLessThan(0.5);
  });

  it('G.722 legs are mixed at 16 kHz: a 6 kHz tone, which G.711 could not carry, reaches the others at its level', () => {
    const legs = [new SipToneLeg('a', 'G722', 6000), new SipToneLeg('b', 'G722', 1000), new SipToneLeg('c', 'G722', 0)];
    const bridge = bridgeOf(legs);
    run(bridge, legs, 60);
    const [a, b, c] = legs as [SipToneLeg, SipToneLeg, SipToneLeg];
    expect(Math.abs(db(b.hears(6000) / 6000))).toBeLessThan(1);
    expect(Math.abs(db(a.hears(1000) / 6000))).toBeLessThan(1);
    expect(Math.abs(db(c.hears(6000) / 6000))).toBeLessThan(1);
    expect(Math.abs(db(c.hears(1000) / 6000))).toBeLessThan(1);
    expect(a.hears(6000)).toBeLessThan(SILENT);
    expect(b.hears(1000)).toBeLessThan(SILENT);
  });

  it("G.722 and G.711 speakers together: each listener gets its own rate's speaker as it came and the other brought to its rate", () => {
    const legs = [
      new SipToneLeg('wide', 'G722', 6000),
      new SipToneLeg('narrow', 'PCMU', A_HZ),
      new SipToneLeg('g722', 'G722', 0),
      new SipToneLeg('pcmu', 'PCMU', 0),
    ];
    const bridge = bridgeOf(legs);
    run(bridge, legs, 60);
    const [wide, narrow, g722, pcmu] = legs as [SipToneLeg, SipToneLeg, SipToneLeg, SipToneLeg];
    expect(Math.abs(db(g722.hears(6000) / 6000))).toBeLessThan(1);
    expect(Math.abs(db(g722.hears(A_HZ) / 6000))).toBeLessThan(1);
    expect(Math.abs(db(pcmu.hears(A_HZ) / 6000))).toBeLessThan(1);
    // 6 kHz is above what 8 kHz carries: brought down, it is filtered out rather than folded to 2 kHz.
    expect(pcmu.hears(6000)).toBeLessThan(SILENT);
    expect(pcmu.hears(2000)).toBeLessThan(SILENT);
    expect(narrow.hears(A_HZ)).toBeLessThan(SILENT);
    expect(Math.abs(db(wide.hears(A_HZ) / 6000))).toBeLessThan(1);
    expect(wide.hears(6000)).toBeLessThan(SILENT);
  });

  it('a 48 kHz listener and the recording of a G.711 conversation get the mix at 48 kHz, both speakers at their level', () => {
    const legs = [new SipToneLeg('a', 'PCMU', A_HZ), new SipToneLeg('b', 'PCMU', B_HZ), new SipToneLeg('c', 'PCMU', 0)];
    const web = new WideLeg('web');
    const bridge = bridgeOf(legs, [web]);
    const recorded: number[] = [];
    const sizes = new Set<number>();
    bridge.tap(
      new Tap(
        'rec',
        undefined,
        (frame) => {
          sizes.add(frame.length);
          for (const x of frame) recorded.push(x);
        },
        () => undefined,
      ),
    );
    run(bridge, legs, 60);
    expect([...sizes]).toEqual([FRAME_SAMPLES]);
    const tail = recorded.slice(-48 * 200);
    for (const hz of [A_HZ, B_HZ]) {
      expect(Math.abs(db(toneLevel(tail, hz) / 6000))).toBeLessThan(0.5);
      expect(Math.abs(db(web.hears(hz) / 6000))).toBeLessThan(0.5);
    }
    // Nothing between the band's top and 24 kHz: the 8 kHz mix was brought up, not zero-stuffed.
    expect(toneLevel(tail, 8000 - A_HZ)).toBeLessThan(SILENT / 10);
  });

  it('a 48 kHz speaker is brought down and added for the G.711 legs, who hear it while it speaks and the others unbroken throughout', () => {
    const legs = [new SipToneLeg('a', 'PCMU', A_HZ), new SipToneLeg('b', 'PCMU', B_HZ), new SipToneLeg('c', 'PCMU', 0)];
    const web = new WideLeg('web');
    const bridge = bridgeOf(legs, [web]);
    run(bridge, legs, 120, (t) => {
      if (t === 39) web.frequency = C_HZ;
      if (t === 79) web.frequency = 0;
    });
    const [a, b, c] = legs as [SipToneLeg, SipToneLeg, SipToneLeg];
    expect(Math.abs(db(toneLevel(c.heardPcm().subarray(60 * 160, 80 * 160), C_HZ, 8000) / 6000))).toBeLessThan(1);
    expect(toneLevel(c.heardPcm().subarray(90 * 160), C_HZ, 8000)).toBeLessThan(SILENT);
    expect(Math.abs(db(web.hears(A_HZ) / 6000))).toBeLessThan(0.5);
    expect(web.hears(C_HZ)).toBeLessThan(SILENT);
    // Every 20 ms, tick boundaries included, holds steady tones and nothing else (µ-law's own noise
    // is about 1 %), but where the 48 kHz speaker starts and stops.
    for (const [leg, tones] of [
      [c, [A_HZ, B_HZ, C_HZ]],
      [a, [B_HZ, C_HZ]],
      [b, [A_HZ, C_HZ]],
    ] as const) {
      const pcm = leg.heardPcm();
      for (let at = 20 * 160; at + 160 <= 120 * 160; at += 80) {
        const tick = at / 160;
        if ((tick > 38 && tick < 42) || (tick > 78 && tick < 82)) continue;
        expect(residualAfterTones(pcm.subarray(at, at + 160), tones, 8000), `${leg.id} at tick ${tick}`).toBeLessThan(200);
      }
    }
  });

  it('a player for everyone starting and ending (here, silence) leaves no gap and no click in what the G.711 legs hear', () => {
    const legs = [new SipToneLeg('a', 'PCMU', A_HZ), new SipToneLeg('b', 'PCMU', B_HZ), new SipToneLeg('c', 'PCMU', C_HZ), new SipToneLeg('d', 'PCMU', 0)];
    const bridge = bridgeOf(legs);
    const encodes: number[] = [];
    run(bridge, legs, 100, (t) => {
      if (t === 39) bridge.play(new Player('quiet', new Int16Array(48_000 * 0.8), { loop: 1, level: 0 }, () => undefined));
      encodes.push(bridge.stats.encoded + bridge.stats.sharedEncoded);
    });
    const [a, b, c, d] = legs as [SipToneLeg, SipToneLeg, SipToneLeg, SipToneLeg];
    // Every 20 ms, tick boundaries included, holds steady tones and nothing else, for the listener
    // (a shared encoding) and for each speaker (its own mix).
    for (const [leg, tones] of [
      [d, [A_HZ, B_HZ, C_HZ]],
      [a, [B_HZ, C_HZ]],
      [b, [A_HZ, C_HZ]],
      [c, [A_HZ, B_HZ]],
    ] as const) {
      const pcm = leg.heardPcm();
      for (let at = 20 * 160; at + 160 <= 100 * 160; at += 80) {
        expect(residualAfterTones(pcm.subarray(at, at + 160), tones, 8000), `${leg.id} at tick ${at / 160}`).toBeLessThan(200);
      }
    }
    // One shared encoding and three speakers' own mixes per tick, with the player and without.
    expect(encodes[38]! - encodes[37]!).toBe(4);
    expect(encodes[60]! - encodes[59]!).toBe(4);
  });

  it('a player for everyone is brought down and added: the G.711 listeners hear it while it plays, and the speakers throughout', () => {
    const legs = [new SipToneLeg('a', 'PCMU', A_HZ), new SipToneLeg('b', 'PCMU', B_HZ), new SipToneLeg('c', 'PCMU', 0, 6000, 30)];
    const bridge = bridgeOf(legs);
    run(bridge, legs, 100, (t) => {
      if (t === 39) bridge.play(new Player('p', sine(C_HZ, 6000, 48_000), { loop: 1, level: 0 }, () => undefined));
    });
    const c = legs[2]!;
    const pcm = c.heardPcm();
    expect(Math.abs(db(toneLevel(pcm.subarray(50 * 160, 80 * 160), C_HZ, 8000) / 6000))).toBeLessThan(1);
    expect(toneLevel(pcm.subarray(pcm.length - 10 * 160), C_HZ, 8000)).toBeLessThan(SILENT);
    for (const hz of [A_HZ, B_HZ]) {
      for (let at = 20 * 160; at + 40 <= pcm.length; at += 40) {
        expect(Math.abs(db(toneLevel(pcm.subarray(at, at + 40), hz, 8000) / 6000)), `${hz} Hz at ${at}`).toBeLessThan(1.5);
      }
    }
  });

  it('a G.711 leg whose audience is limited gets a mix of its own (at 48 kHz) and back, hearing only whom it may, with no gap', () => {
    const legs = [new SipToneLeg('a', 'PCMU', A_HZ), new SipToneLeg('b', 'PCMU', B_HZ), new SipToneLeg('c', 'PCMU', C_HZ), new SipToneLeg('d', 'PCMU', 0)];
    const bridge = bridgeOf(legs);
    run(bridge, legs, 100, (t) => {
      if (t === 39) bridge.setAudience('d', { canHear: ['a', 'b'] });
      if (t === 69) bridge.setAudience('d', { canHear: undefined });
    });
    const d = legs[3]!;
    const pcm = d.heardPcm();
    expect(toneLevel(pcm.subarray(45 * 160, 70 * 160), C_HZ, 8000)).toBeLessThan(SILENT);
    expect(Math.abs(db(toneLevel(pcm.subarray(80 * 160), C_HZ, 8000) / 6000))).toBeLessThan(1);
    // A and B are heard in every 5 ms, through both changes (the 48 kHz path is 3 ms later: a shift, not a gap).
    for (const hz of [A_HZ, B_HZ]) {
      for (let at = 20 * 160; at + 40 <= pcm.length; at += 40) {
        expect(Math.abs(db(toneLevel(pcm.subarray(at, at + 40), hz, 8000) / 6000)), `${hz} Hz at ${at}`).toBeLessThan(1.5);
      }
    }
  });

  it.each(['PCMU', 'PCMA', 'G722'] as const)('a two-party call of %s legs: each hears the other at its level, never itself', (codec) => {
    const legs = [new SipToneLeg('a', codec, A_HZ), new SipToneLeg('b', codec, B_HZ)];
    const bridge = bridgeOf(legs);
    run(bridge, legs, 60);
    const [a, b] = legs as [SipToneLeg, SipToneLeg];
    expect(Math.abs(db(a.hears(B_HZ) / 6000))).toBeLessThan(1);
    expect(Math.abs(db(b.hears(A_HZ) / 6000))).toBeLessThan(1);
    expect(a.hears(A_HZ)).toBeLessThan(SILENT);
    expect(b.hears(B_HZ)).toBeLessThan(SILENT);
  });

  it.each([10, 30, 60])('a listener sending %i ms packets gets them full, on a steady clock, holding both speakers', (ptime) => {
    const legs = [new SipToneLeg('a', 'PCMU', A_HZ), new SipToneLeg('b', 'PCMU', B_HZ), new SipToneLeg('c', 'PCMU', 0, 6000, ptime)];
    const bridge = bridgeOf(legs);
    run(bridge, legs, 60);
    const c = legs[2]!;
    expect(c.packets).toHaveLength(Math.floor((60 * 20) / ptime));
    c.packets.forEach((p, i) => {
      expect(p.payload).toHaveLength(ptime * 8);
      expect(p.ts).toBe(i * ptime * 8);
      expect(p.marker).toBe(i === 0);
    });
    expect(Math.abs(db(c.hears(A_HZ) / 6000))).toBeLessThan(0.5);
    expect(Math.abs(db(c.hears(B_HZ) / 6000))).toBeLessThan(0.5);
  });

  it('mute, earmuff and hold keep their effect: a muted speaker is heard by no one, earmuffed and held legs hear silence', () => {
    const legs = [
      new SipToneLeg('a', 'PCMU', A_HZ),
      new SipToneLeg('b', 'PCMU', B_HZ),
      new SipToneLeg('c', 'PCMU', C_HZ),
      new SipToneLeg('e', 'PCMU', 0),
      new SipToneLeg('h', 'PCMU', 0),
    ];
    const bridge = bridgeOf(legs);
    bridge.setMuted('a', true);
    bridge.setEarmuffed('e', true);
    bridge.setHeld('h', true);
    run(bridge, legs, 60);
    const [a, b, c, e, h] = legs as [SipToneLeg, SipToneLeg, SipToneLeg, SipToneLeg, SipToneLeg];
    for (const leg of [a, b, c]) expect(leg.hears(A_HZ)).toBeLessThan(SILENT);
    expect(Math.abs(db(a.hears(B_HZ) / 6000))).toBeLessThan(0.5);
    expect(Math.abs(db(b.hears(C_HZ) / 6000))).toBeLessThan(0.5);
    for (const leg of [e, h]) {
      expect(leg.packets.length).toBe(60);
      expect(leg.heardPcm().every((x) => x === 0)).toBe(true);
    }
  });
});
