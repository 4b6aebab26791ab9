import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { FRAME_SAMPLES } from '../../../src/media/audio/frame.js';
import { createOpusCodec } from '../../../src/media/audio/opusCodec.js';
import { FrameEncoder } from '../../../src/media/audio/opusEncoder.js';
import { AudioBridge } from '../../../src/media/bridge/audioBridge.js';
import { Player, Tap, type EndReason } from '../../../src/media/bridge/sources.js';
import type { AudioEndpoint, AudioPacket, EndpointEvents } from '../../../src/media/engine.js';
import { sine, toneLevel } from '../../support/tone.js';

/**
 * A leg without a network: each tick it hands the bridge one real Opus frame of its tone and
 * decodes, with a real decoder, what the bridge sends back.
 */
class ToneLeg implements AudioEndpoint {
  readonly heard: number[] = [];
  private listener: ((packet: AudioPacket) => void) | undefined;
  private readonly encoder = new FrameEncoder();
  private readonly decoder = createOpusCodec();
  private seq = 0;
  private phase = 0;

  constructor(
    readonly id: string,
    private readonly frequency: number,
  ) {}

  on<E extends keyof EndpointEvents>(event: E, listener: (...args: EndpointEvents[E]) => void): () => void {
    if (event === 'audio') this.listener = listener;
    return () => undefined;
  }

  /** Sends one 20 ms frame of its tone (silence when the frequency is 0). */
  speak(): void {
    const frame = this.frequency === 0 ? new Int16Array(FRAME_SAMPLES) : sine(this.frequency, 8000, FRAME_SAMPLES, 48_000, this.phase);
    this.phase += (2 * Math.PI * this.frequency * FRAME_SAMPLES) / 48_000;
    this.listener?.({ sequenceNumber: this.seq++ & 0xffff, timestamp: (this.seq * FRAME_SAMPLES) >>> 0, payload: this.encoder.encode(frame) });
  }

  sendAudio(opusFrame: Buffer): void {
    const pcm = this.decoder.decode(opusFrame);
    for (let i = 0; i < pcm.length; i += 2) this.heard.push(pcm.readInt16LE(i));
  }

  /** Tone level of `freq` in the last `ms` of what it heard. */
  level(freq: number, ms = 200): number {
    return toneLevel(this.heard.slice(-(48 * ms)), freq);
  }
}

const AUDIBLE = 1500;
const SILENT = 300;
const logger = pino({ level: 'silent' });

describe('AudioBridge players, taps and moves', () => {
  const bridges: AudioBridge[] = [];
  afterEach(() => {
    for (const b of bridges.splice(0)) b.close();
  });

  function bridgeWith(...legs: ToneLeg[]): AudioBridge {
    const bridge = new AudioBridge('CON-test', () => undefined, logger, { manual: true });
    bridges.push(bridge);
    for (const leg of legs) bridge.add(leg.id, leg);
    return bridge;
  }

  /** Runs `frames` ticks, every leg speaking before each. */
  function run(bridge: AudioBridge, legs: ToneLeg[], frames: number): void {
    for (let i = 0; i < frames; i++) {
      for (const leg of legs) leg.speak();
      bridge.tick();
    }
  }

  it('a player to the conversation is heard by every leg, then reports done once', () => {
    const a = new ToneLeg('a', 440);
    const b = new ToneLeg('b', 0);
    const bridge = bridgeWith(a, b);
    const ends: EndReason[] = [];
    bridge.play(new Player('p1', sine(1000, 8000, 48_000 / 2), { loop: 1, level: 0 }, (r) => ends.push(r)));
    run(bridge, [a, b], 20);
    expect(a.level(1000)).toBeGreaterThan(AUDIBLE);
    expect(b.level(1000)).toBeGreaterThan(AUDIBLE);
    expect(b.level(440)).toBeGreaterThan(AUDIBLE);
    run(bridge, [a, b], 20);
    expect(ends).toEqual(['done']);
    expect(a.level(1000)).toBeLessThan(SILENT);
    expect(b.level(440)).toBeGreaterThan(AUDIBLE);
  });

  it('a player to one leg is heard by that leg only, and stopping it ends it with stopped', () => {
    const a = new ToneLeg('a', 0);
    const b = new ToneLeg('b', 0);
    const bridge = bridgeWith(a, b);
    const ends: EndReason[] = [];
    bridge.play(new Player('p1', sine(1000, 8000, 48_000), { loop: 0, level: 0, legId: 'a' }, (r) => ends.push(r)));
    run(bridge, [a, b], 15);
    expect(a.level(1000)).toBeGreaterThan(AUDIBLE);
    expect(b.level(1000)).toBeLessThan(SILENT);
    expect(bridge.stopPlayer('p1')).toBe(true);
    run(bridge, [a, b], 15);
    expect(a.level(1000)).toBeLessThan(SILENT);
    expect(ends).toEqual(['stopped']);
    expect(bridge.stopPlayer('p1')).toBe(false);
  });

  it('loops as asked (0 = until stopped), at the level asked, and an earmuffed leg hears none of it', () => {
    const a = new ToneLeg('a', 0);
    const b = new ToneLeg('b', 0);
    const bridge = bridgeWith(a, b);
    bridge.setEarmuffed('b', true);
    const ends: EndReason[] = [];
    // 100 ms of tone, three times: done after 15 frames, not before.
    bridge.play(new Player('p3', sine(1000, 8000, 4800), { loop: 3, level: 0 }, (r) => ends.push(`3:${r}` as EndReason)));
    bridge.play(new Player('quiet', sine(2000, 8000, 4800), { loop: 0, level: -1 }, (r) => ends.push(`q:${r}` as EndReason)));
    run(bridge, [a, b], 14);
    expect(ends).toEqual([]);
    expect(a.level(1000, 100)).toBeGreaterThan(AUDIBLE);
    expect(a.level(2000, 100)).toBeLessThan(SILENT);
    expect(b.level(1000, 100)).toBeLessThan(SILENT);
    run(bridge, [a, b], 1);
    expect(ends).toEqual(['3:done']);
    run(bridge, [a, b], 50);
    expect(ends).toEqual(['3:done']);
  });

  it('taps the mix (what a listener hears) and one leg (silence while it is muted)', () => {
    const a = new ToneLeg('a', 440);
    const b = new ToneLeg('b', 880);
    const bridge = bridgeWith(a, b);
    const mix: number[] = [];
    const ofA: number[] = [];
    bridge.tap(
      new Tap(
        't-mix',
        undefined,
        (f) => mix.push(...f),
        () => undefined,
      ),
    );
    bridge.tap(
      new Tap(
        't-a',
        'a',
        (f) => ofA.push(...f),
        () => undefined,
      ),
    );
    run(bridge, [a, b], 20);
    expect(mix).toHaveLength(20 * FRAME_SAMPLES);
    expect(ofA).toHaveLength(20 * FRAME_SAMPLES);
    expect(toneLevel(mix.slice(-9600), 440)).toBeGreaterThan(AUDIBLE);
    expect(toneLevel(mix.slice(-9600), 880)).toBeGreaterThan(AUDIBLE);
    expect(toneLevel(ofA.slice(-9600), 440)).toBeGreaterThan(AUDIBLE);
    expect(toneLevel(ofA.slice(-9600), 880)).toBeLessThan(SILENT);
    bridge.setMuted('a', true);
    run(bridge, [a, b], 10);
    expect(toneLevel(ofA.slice(-4800), 440)).toBeLessThan(SILENT);
    expect(toneLevel(mix.slice(-4800), 440)).toBeLessThan(SILENT);
  });

  it('moves a leg to another bridge: it hears the new conversation and not the old, and takes its player along', () => {
    const a = new ToneLeg('a', 440);
    const b = new ToneLeg('b', 0);
    const c = new ToneLeg('c', 880);
    const from = bridgeWith(a, b);
    const to = bridgeWith(c);
    const ends: EndReason[] = [];
    from.play(new Player('for-b', sine(1000, 8000, 48_000), { loop: 0, level: 0, legId: 'b' }, (r) => ends.push(r)));
    run(from, [a, b], 10);
    expect(b.level(440)).toBeGreaterThan(AUDIBLE);
    expect(from.moveLeg('b', to)).toBe(true);
    for (let i = 0; i < 15; i++) {
      a.speak();
      b.speak();
      c.speak();
      from.tick();
      to.tick();
    }
    expect(b.level(880)).toBeGreaterThan(AUDIBLE);
    expect(b.level(440)).toBeLessThan(SILENT);
    expect(b.level(1000)).toBeGreaterThan(AUDIBLE);
    expect(c.level(1000)).toBeLessThan(SILENT);
    expect(from.has('b')).toBe(false);
    expect(ends).toEqual([]);
  });

  it('canHear and canSpeak limit who hears whom; a play to everyone is still heard', () => {
    const a = new ToneLeg('a', 440);
    const b = new ToneLeg('b', 880);
    const c = new ToneLeg('c', 0);
    const bridge = bridgeWith(a, b, c);
    bridge.setAudience('c', { canHear: ['a'] });
    bridge.play(new Player('all', sine(1000, 8000, 48_000), { loop: 0, level: 0 }, () => undefined));
    run(bridge, [a, b, c], 15);
    expect(c.level(440)).toBeGreaterThan(AUDIBLE);
    expect(c.level(880)).toBeLessThan(SILENT);
    expect(c.level(1000)).toBeGreaterThan(AUDIBLE);
    expect(a.level(880)).toBeGreaterThan(AUDIBLE);

    // A speaks to B only: C (who may hear A) no longer hears it, B still does.
    bridge.setAudience('a', { canSpeak: ['b'] });
    run(bridge, [a, b, c], 15);
    expect(c.level(440)).toBeLessThan(SILENT);
    expect(b.level(440)).toBeGreaterThan(AUDIBLE);

    bridge.setAudience('a', {});
    bridge.setAudience('c', {});
    run(bridge, [a, b, c], 15);
    expect(c.level(440)).toBeGreaterThan(AUDIBLE);
    expect(c.level(880)).toBeGreaterThan(AUDIBLE);
  });

  it('ends what plays and taps with closed when the last leg leaves', () => {
    const a = new ToneLeg('a', 440);
    const bridge = bridgeWith(a);
    const ends: string[] = [];
    bridge.play(new Player('p', sine(1000, 8000, 48_000), { loop: 0, level: 0 }, (r) => ends.push(`play:${r}`)));
    bridge.tap(
      new Tap(
        't',
        undefined,
        () => undefined,
        (r) => ends.push(`tap:${r}`),
      ),
    );
    run(bridge, [a], 3);
    bridge.remove('a');
    expect(ends).toEqual(['play:closed', 'tap:closed']);
  });
});
