import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import { createOpusCodec } from '../../../src/media/audio/opusCodec.js';
import { FrameEncoder } from '../../../src/media/audio/opusEncoder.js';
import { frameDbfs } from '../../../src/media/audio/speakingDetector.js';
import { AudioBridge, type BridgeOptions } from '../../../src/media/bridge/audioBridge.js';
import type { LegAudio } from '../../../src/media/bridge/legAudio.js';
import { Player, Tap } from '../../../src/media/bridge/sources.js';
import type { AudioEndpoint, AudioPacket, EndpointEvents } from '../../../src/media/engine.js';
import { sine, toneLevel } from '../../support/tone.js';

/**
 * A WebRTC leg without a network: each tick it sends the bridge one real Opus frame of its tone,
 * with the RFC 6464 level a browser would put on it (or none, or a level it is told to claim), and
 * keeps what the bridge sends back: the payloads, and their audio decoded by a real decoder.
 */
class ToneLeg implements AudioEndpoint {
  readonly heard: number[] = [];
  /** Every payload received, in order. */
  readonly received: Buffer[] = [];
  /** Every payload sent to the bridge, in order. */
  readonly sent: Buffer[] = [];
  private listener: ((packet: AudioPacket & { audioLevel?: number }) => void) | undefined;
  private readonly encoder = new FrameEncoder();
  private readonly decoder = createOpusCodec();
  private seq = 0;
  private phase = 0;

  constructor(
    readonly id: string,
    /** Hz; 0 sends silence. */
    public frequency: number,
    public amplitude = 8000,
    /** 'measured': the level of what it sends, as a browser reports it; 'none': no extension; a number: that level whatever it sends. */
    public level: 'measured' | 'none' | number = 'measured',
  ) {}

  on<E extends keyof EndpointEvents>(event: E, listener: (...args: EndpointEvents[E]) => void): () => void {
    if (event === 'audio') this.listener = listener;
    return () => undefined;
  }

  /** Sends one 20 ms frame of its tone. */
  speak(): void {
    const frame = this.frequency === 0 ? new Int16Array(FRAME_SAMPLES) : sine(this.frequency, this.amplitude, FRAME_SAMPLES, 48_000, this.phase);
    this.phase += (2 * Math.PI * this.frequency * FRAME_SAMPLES) / 48_000;
    const payload = this.encoder.encode(frame);
    this.sent.push(payload);
    const packet = { sequenceNumber: this.seq++ & 0xffff, timestamp: (this.seq * FRAME_SAMPLES) >>> 0, payload };
    if (this.level === 'none') this.listener?.(packet);
    else this.listener?.({ ...packet, audioLevel: this.level === 'measured' ? Math.min(127, Math.round(-frameDbfs(frame))) : this.level });
  }

  sendAudio(opusFrame: Buffer): void {
    this.received.push(opusFrame);
    const pcm = this.decoder.decode(opusFrame);
    for (let i = 0; i < pcm.length; i += 2) this.heard.push(pcm.readInt16LE(i));
  }

  /** Tone level of `freq` in the last `ms` of what it heard. */
  hears(freq: number, ms = 200): number {
    return toneLevel(this.heard.slice(-(48 * ms)), freq);
  }
}

/** A leg that only offers the basic LegAudio (as SIP legs do): 48 kHz PCM in and out, every tick decoded and encoded by itself. */
class PcmLeg implements LegAudio {
  readonly heard: number[] = [];
  private phase = 0;

  constructor(public frequency: number) {}

  nextFrame(): Int16Array | undefined {
    if (this.frequency === 0) return undefined;
    const frame = sine(this.frequency, 8000, FRAME_SAMPLES, 48_000, this.phase);
    this.phase += (2 * Math.PI * this.frequency * FRAME_SAMPLES) / 48_000;
    return frame;
  }

  send(mix: Int16Array): void {
    this.heard.push(...mix);
  }

  sendSilence(): void {
    this.heard.push(...new Int16Array(FRAME_SAMPLES));
  }

  close(): void {}

  hears(freq: number, ms = 200): number {
    return toneLevel(this.heard.slice(-(48 * ms)), freq);
  }
}

const AUDIBLE = 1500;
const SILENT = 300;
const logger = pino({ level: 'silent' });
/** Tones far apart and no harmonics of each other, so each is measured alone. */
const TONES = [470, 1130, 1730, 2330, 2930, 3530, 4130, 4730, 5330, 5930];

describe('AudioBridge as a conference server: loudest speakers, shared encoders, forwarding', () => {
  const bridges: AudioBridge[] = [];
  afterEach(() => {
    for (const b of bridges.splice(0)) b.close();
  });

  function bridgeWith(legs: readonly ToneLeg[], options: Omit<BridgeOptions, 'manual'> = {}): AudioBridge {
    const bridge = new AudioBridge('CON-conference', () => undefined, logger, { manual: true, ...options });
    bridges.push(bridge);
    for (const leg of legs) bridge.add(leg.id, leg);
    return bridge;
  }

  function run(bridge: AudioBridge, legs: readonly ToneLeg[], frames: number, each?: () => void): void {
    for (let i = 0; i < frames; i++) {
      for (const leg of legs) leg.speak();
      bridge.tick();
      each?.();
    }
  }

  /** Ten legs, the first two speaking tones, the rest silent. */
  function conferenceOfTen(level: 'measured' | 'none'): ToneLeg[] {
    return TONES.map((hz, i) => new ToneLeg(`leg-${i}`, i < 2 ? hz : 0, 8000, level));
  }

  it.each(['measured', 'none'] as const)(
    'in a conference of 10 where 2 speak (level extension: %s), every listener hears both and no one hears themselves',
    (level) => {
      const legs = conferenceOfTen(level);
      const spoken: string[] = [];
      const bridge = new AudioBridge('CON-ten', (id, on) => spoken.push(`${id}:${on ? 'on' : 'off'}`), logger, { manual: true });
      bridges.push(bridge);
      for (const leg of legs) bridge.add(leg.id, leg);
      run(bridge, legs, 40);
      const [a, b, ...listeners] = legs;
      expect(a!.hears(TONES[1]!)).toBeGreaterThan(AUDIBLE);
      expect(a!.hears(TONES[0]!)).toBeLessThan(SILENT);
      expect(b!.hears(TONES[0]!)).toBeGreaterThan(AUDIBLE);
      expect(b!.hears(TONES[1]!)).toBeLessThan(SILENT);
      for (const listener of listeners) {
        expect(listener.hears(TONES[0]!)).toBeGreaterThan(AUDIBLE);
        expect(listener.hears(TONES[1]!)).toBeGreaterThan(AUDIBLE);
      }
      expect(spoken.sort()).toEqual(['leg-0:on', 'leg-1:on']);
      expect([...bridge.speakers()].sort()).toEqual(['leg-0', 'leg-1']);
    },
  );

  it('sends every listener outside the mix the very same payload each tick, encoded once', () => {
    const legs = conferenceOfTen('measured');
    const bridge = bridgeWith(legs);
    run(bridge, legs, 10);
    const from = legs.map((leg) => leg.received.length);
    const before = bridge.stats;
    run(bridge, legs, 20);
    const listeners = legs.slice(2);
    for (let t = 0; t < 20; t++) {
      const payloads = listeners.map((leg, i) => leg.received[from[i + 2]! + t]!);
      for (const p of payloads) expect(p.equals(payloads[0]!)).toBe(true);
      // The speakers hear each other, not that mix.
      expect(legs[0]!.received[from[0]! + t]!.equals(payloads[0]!)).toBe(false);
    }
    expect(bridge.stats.sharedEncoded - before.sharedEncoded).toBe(20);
    // Each speaker hears only the other: that one's packets as they came, no encoder of its own.
    expect(bridge.stats.encoded - before.encoded).toBe(0);
    const sentByB = new Set(legs[1]!.sent.map((p) => p.toString('hex')));
    expect(legs[0]!.received.slice(-10).every((p) => sentByB.has(p.toString('hex')))).toBe(true);
  });

  it('a speaker whose input drains (packets late) and who then hears the shared mix does not hear its own last words in it', () => {
    // Three speakers, so that each hears a mix of two (encoded), and a listener, so that the shared
    // encoder runs every tick on the mix of all three.
    const a = new ToneLeg('a', 470);
    const legs = [a, new ToneLeg('b', 1130), new ToneLeg('d', 1730), new ToneLeg('c', 0)];
    const bridge = bridgeWith(legs);
    run(bridge, legs, 30);
    expect([...bridge.speakers()].sort()).toEqual(['a', 'b', 'd']);
    // A's packets stop coming (a stall): its jitter buffer plays out what it holds, then runs dry,
    // and A, out of the mix, hears the shared mix. The shared encoder was fed A's voice until then,
    // and Opus carries a frame's tail and predictions into the next packets: A's own tone was in
    // the two packets after it left.
    const others = legs.slice(1);
    for (let i = 0; i < 10; i++) {
      const before = a.heard.length;
      run(bridge, others, 1);
      // Each tick on its own: 20 ms of what A heard, none of it A (it was 360 in two of them).
      expect(toneLevel(a.heard.slice(before), 470), `tick ${i} after A stopped`).toBeLessThan(100);
    }
    expect(a.hears(1130)).toBeGreaterThan(AUDIBLE);
  });

  it('a silent leg whose level extension says silence is never decoded, and what it sends reaches no one', () => {
    const a = new ToneLeg('a', 470);
    // Sends a loud tone but claims silence: if it were decoded and mixed, everyone would hear it.
    const liar = new ToneLeg('liar', 1730, 8000, 127);
    const c = new ToneLeg('c', 0);
    const d = new ToneLeg('d', 2930);
    const legs = [a, liar, c, d];
    const spoken: string[] = [];
    const bridge = new AudioBridge('CON-liar', (id, on) => spoken.push(`${id}:${on ? 'on' : 'off'}`), logger, { manual: true });
    bridges.push(bridge);
    for (const leg of legs) bridge.add(leg.id, leg);
    run(bridge, legs, 40);
    expect(bridge.legStats('liar')).toMatchObject({ decoded: 0 });
    expect(bridge.legStats('liar')!.skipped).toBeGreaterThan(30);
    expect(bridge.legStats('c')).toMatchObject({ decoded: 0 });
    for (const leg of [a, c, d]) expect(leg.hears(1730)).toBeLessThan(SILENT);
    expect(c.hears(470)).toBeGreaterThan(AUDIBLE);
    expect(c.hears(2930)).toBeGreaterThan(AUDIBLE);
    expect(spoken.sort()).toEqual(['a:on', 'd:on']);
  });

  it('a fourth speaker louder than the three mixed gets in, in place of the quietest', () => {
    const legs = [new ToneLeg('s1', 470, 6000), new ToneLeg('s2', 1130, 4000), new ToneLeg('s3', 1730, 1500), new ToneLeg('s4', 0), new ToneLeg('l', 0)];
    const [s1, , s3, s4, listener] = legs as [ToneLeg, ToneLeg, ToneLeg, ToneLeg, ToneLeg];
    const bridge = bridgeWith(legs);
    run(bridge, legs, 30);
    expect([...bridge.speakers()].sort()).toEqual(['s1', 's2', 's3']);
    expect(listener.hears(1730)).toBeGreaterThan(SILENT);
    s4.frequency = 2930;
    s4.amplitude = 12000;
    run(bridge, legs, 40);
    expect([...bridge.speakers()].sort()).toEqual(['s1', 's2', 's4']);
    expect(listener.hears(2930)).toBeGreaterThan(AUDIBLE);
    expect(listener.hears(470)).toBeGreaterThan(AUDIBLE);
    expect(listener.hears(1130)).toBeGreaterThan(AUDIBLE);
    expect(listener.hears(1730)).toBeLessThan(SILENT);
    // The one left out still hears the three mixed.
    expect(s3.hears(2930)).toBeGreaterThan(AUDIBLE);
    expect(s1.hears(470)).toBeLessThan(SILENT);
  });

  it('does not flap when two legs take turns being a little louder, nor when a leg hovers at the gate threshold', () => {
    /** The mixed sets seen while A and B, one slot between them, take turns being 3 dB louder every other frame. */
    const turns = (options: Omit<BridgeOptions, 'manual'>): { sets: string[]; listener: ToneLeg } => {
      const a = new ToneLeg('a', 470, 4000);
      const b = new ToneLeg('b', 1730, 4000);
      const listener = new ToneLeg('c', 0);
      const legs = [a, b, listener];
      const bridge = bridgeWith(legs, { maxSpeakers: 1, ...options });
      // A starts first and takes the slot.
      a.speak();
      bridge.tick();
      const sets: string[] = [];
      for (let t = 0; t < 100; t++) {
        a.amplitude = t % 4 < 2 ? 2800 : 5600;
        b.amplitude = t % 4 < 2 ? 5600 : 2800;
        for (const leg of legs) leg.speak();
        bridge.tick();
        sets.push(bridge.speakers().join(','));
      }
      return { sets, listener };
    };
    const steady = turns({});
    expect(new Set(steady.sets)).toEqual(new Set(['a']));
    expect(steady.listener.hears(470)).toBeGreaterThan(1000);
    expect(steady.listener.hears(1730)).toBeLessThan(SILENT);
    // The same turns without the margin and the frames it must hold for: the slot changes hands all the time.
    const flapping = turns({ selection: { marginDb: 0, switchFrames: 1 } });
    expect(flapping.sets.filter((set, i) => i > 0 && set !== flapping.sets[i - 1]).length).toBeGreaterThan(10);

    /** The mixed sets seen while a leg is alternately just over the gate's opening level (−50 dBFS) and under its closing one (−55). */
    const hovering = (options: Omit<BridgeOptions, 'manual'>): string[] => {
      const quiet = new ToneLeg('quiet', 1130, 160);
      const listeners = [new ToneLeg('l1', 0), new ToneLeg('l2', 0)];
      const bridge = bridgeWith([quiet, ...listeners], options);
      const seen: string[] = [];
      for (let t = 0; t < 80; t++) {
        quiet.amplitude = t % 2 === 0 ? 160 : 50;
        quiet.speak();
        for (const listener of listeners) listener.speak();
        bridge.tick();
        seen.push(bridge.speakers().join(','));
      }
      return seen.slice(seen.indexOf('quiet'));
    };
    const held = hovering({});
    expect(held.length).toBeGreaterThan(70);
    expect(new Set(held)).toEqual(new Set(['quiet']));
    expect(new Set(hovering({ selection: { hangoverFrames: 1 } }))).toEqual(new Set(['quiet', '']));
  });

  it('two legs are forwarded byte for byte, mixed while a player plays or one is muted, and forwarded again after', () => {
    const a = new ToneLeg('a', 470);
    const b = new ToneLeg('b', 1730);
    const legs = [a, b];
    const bridge = bridgeWith(legs);
    const sentBy = (leg: ToneLeg): Set<string> => new Set(leg.sent.map((p) => p.toString('hex')));
    const lastFrom = (leg: ToneLeg, n: number): string[] => leg.received.slice(-n).map((p) => p.toString('hex'));

    run(bridge, legs, 20);
    expect(lastFrom(b, 15).every((p) => sentBy(a).has(p))).toBe(true);
    expect(lastFrom(a, 15).every((p) => sentBy(b).has(p))).toBe(true);
    expect(b.hears(470)).toBeGreaterThan(AUDIBLE);
    expect(bridge.stats).toMatchObject({ encoded: 0, sharedEncoded: 0 });
    expect(bridge.legStats('a')).toMatchObject({ decoded: 0 });

    // A player starts: both are mixed (each hears the other and the player), with no gap.
    const player = new Player('p', sine(4130, 8000, 48_000 * 2), { loop: 0, level: 0 }, () => undefined);
    bridge.play(player);
    run(bridge, legs, 15);
    expect(lastFrom(b, 10).some((p) => sentBy(a).has(p))).toBe(false);
    expect(b.hears(470)).toBeGreaterThan(AUDIBLE);
    expect(b.hears(4130)).toBeGreaterThan(AUDIBLE);
    expect(a.hears(1730)).toBeGreaterThan(AUDIBLE);
    expect(a.hears(470)).toBeLessThan(SILENT);
    expect(bridge.stats.encoded).toBeGreaterThan(0);

    bridge.stopPlayer('p');
    run(bridge, legs, 15);
    expect(lastFrom(b, 10).every((p) => sentBy(a).has(p))).toBe(true);
    expect(b.hears(4130, 100)).toBeLessThan(SILENT);

    // A is muted: B hears nothing of it; unmuted, A's packets go to B as they came again.
    bridge.setMuted('a', true);
    run(bridge, legs, 15);
    expect(lastFrom(b, 10).some((p) => sentBy(a).has(p))).toBe(false);
    expect(b.hears(470)).toBeLessThan(SILENT);
    expect(a.hears(1730)).toBeGreaterThan(AUDIBLE);
    bridge.setMuted('a', false);
    run(bridge, legs, 15);
    expect(lastFrom(b, 10).every((p) => sentBy(a).has(p))).toBe(true);
    expect(b.hears(470)).toBeGreaterThan(AUDIBLE);
  });

  it('does not gate a two-party call: a quiet background is heard while mixing, as while forwarding', () => {
    const a = new ToneLeg('a', 470);
    // About −60 dBFS: under the gate's closing level, so a conference would not mix it.
    const b = new ToneLeg('b', 1730, 50);
    const legs = [a, b];
    const bridge = bridgeWith(legs);
    bridge.play(new Player('p', sine(4130, 2000, 48_000 * 2), { loop: 0, level: 0 }, () => undefined));
    run(bridge, legs, 30);
    expect(a.hears(1730)).toBeGreaterThan(30);
    expect(bridge.speakers()).toContain('b');
    // A third leg makes it a conference: the quiet one is gated out once its hangover has run.
    const c = new ToneLeg('c', 0);
    bridge.add('c', c);
    run(bridge, [...legs, c], 40);
    expect(a.hears(1730)).toBeLessThan(5);
    expect(bridge.speakers()).toEqual(['a']);
  });

  it('hears a gapless tone across the switch from forwarding to mixing and back', () => {
    const a = new ToneLeg('a', 470);
    const b = new ToneLeg('b', 0);
    const legs = [a, b];
    const bridge = bridgeWith(legs);
    run(bridge, legs, 20);
    const start = b.heard.length;
    bridge.play(new Player('p', sine(4130, 2000, 48_000), { loop: 0, level: 0 }, () => undefined));
    run(bridge, legs, 10);
    bridge.stopPlayer('p');
    run(bridge, legs, 10);
    // Every 20 ms of what B heard around both switches holds A's tone at its level (8000), give or take 2 dB.
    for (let t = start; t + 960 <= b.heard.length; t += 960) {
      expect(toneLevel(b.heard.slice(t, t + 960), 470)).toBeGreaterThan(0.8 * 8000);
      expect(toneLevel(b.heard.slice(t, t + 960), 470)).toBeLessThan(1.25 * 8000);
    }
  });

  it('earmuff, hold and canHear are kept in a conference: silence for the deaf, their own mix for the limited', () => {
    const legs = [new ToneLeg('a', 470), new ToneLeg('b', 1730), new ToneLeg('c', 0), new ToneLeg('d', 0), new ToneLeg('e', 0)];
    const [a, b, c, d, e] = legs as [ToneLeg, ToneLeg, ToneLeg, ToneLeg, ToneLeg];
    const bridge = bridgeWith(legs);
    bridge.setEarmuffed('c', true);
    bridge.setHeld('d', true);
    run(bridge, legs, 20);
    expect(c.hears(470)).toBeLessThan(SILENT);
    expect(d.hears(1730)).toBeLessThan(SILENT);
    expect(e.hears(470)).toBeGreaterThan(AUDIBLE);
    bridge.setAudience('e', { canHear: ['b'] });
    run(bridge, legs, 15);
    expect(e.hears(470)).toBeLessThan(SILENT);
    expect(e.hears(1730)).toBeGreaterThan(AUDIBLE);
    expect(a.hears(1730)).toBeGreaterThan(AUDIBLE);
    expect(b.hears(470)).toBeGreaterThan(AUDIBLE);
  });

  it('mixes legs that only decode and encode themselves (SIP) with the others, both ways', () => {
    const legs = [new ToneLeg('a', 470), new ToneLeg('b', 0), new ToneLeg('c', 0)];
    const [a, b] = legs as [ToneLeg, ToneLeg, ToneLeg];
    const sip = new PcmLeg(1730);
    const bridge = bridgeWith(legs);
    bridge.addLeg('sip', sip);
    run(bridge, legs, 20);
    expect(sip.hears(470)).toBeGreaterThan(AUDIBLE);
    expect(sip.hears(1730)).toBeLessThan(SILENT);
    expect(b.hears(1730)).toBeGreaterThan(AUDIBLE);
    expect(b.hears(470)).toBeGreaterThan(AUDIBLE);
    expect(a.hears(1730)).toBeGreaterThan(AUDIBLE);
    sip.frequency = 0;
    run(bridge, legs, 40);
    expect(b.hears(1730)).toBeLessThan(SILENT);
    expect(sip.hears(470)).toBeGreaterThan(AUDIBLE);
  });

  it('a tap of one leg records its audio, decoded for it even while that leg is not mixed', () => {
    const a = new ToneLeg('a', 470);
    const b = new ToneLeg('b', 1730, 8000, 127);
    const c = new ToneLeg('c', 0);
    const legs = [a, b, c];
    const bridge = bridgeWith(legs);
    const ofB: number[] = [];
    bridge.tap(
      new Tap(
        't-b',
        'b',
        (f) => ofB.push(...f),
        () => undefined,
      ),
    );
    run(bridge, legs, 20);
    expect(ofB).toHaveLength(20 * FRAME_SAMPLES);
    expect(toneLevel(ofB.slice(-9600), 1730)).toBeGreaterThan(AUDIBLE);
    // Recorded, but not mixed: its level says silence.
    expect(c.hears(1730)).toBeLessThan(SILENT);
    expect(bridge.speakers()).toEqual(['a']);
  });
});
