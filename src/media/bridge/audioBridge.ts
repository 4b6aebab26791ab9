import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { AudioInput } from '../audio/decoderInput.js';
import { mixFor, mixFrames } from '../audio/mixer.js';
import { FrameEncoder } from '../audio/opusEncoder.js';
import { SpeakingDetector } from '../audio/speakingDetector.js';
import type { AudioEndpoint } from '../engine.js';

import { FRAME_MS, FRAME_SAMPLES } from '../audio/frame.js';

/** Past this many frames behind (a stalled loop), the bridge skips ahead instead of bursting. */
const MAX_CATCH_UP = 5;

interface BridgeLeg {
  id: string;
  endpoint: AudioEndpoint;
  input: AudioInput;
  encoder: FrameEncoder;
  speaking: SpeakingDetector;
  muted: boolean;
  earmuffed: boolean;
  /** This leg's mix buffer, reused every tick. */
  out: Int16Array;
  unsubscribe: () => void;
}

export interface BridgeStats {
  ticks: number;
  /** Ticks that ran more than one frame late (the loop could not keep up). */
  late: number;
}

/**
 * A conversation's conference bridge in Node: every 20 ms it takes one decoded frame from each
 * leg (jitter buffer + concealment), mixes them once, and sends each leg everyone but itself,
 * Opus-encoded by that leg's own encoder. A muted leg is left out of the mix; an earmuffed leg
 * gets silence.
 */
export class AudioBridge {
  private readonly legs = new Map<string, BridgeLeg>();
  private readonly frames = new Map<string, Int16Array | undefined>();
  private readonly silence = new Int16Array(FRAME_SAMPLES);
  private readonly total = new Int32Array(FRAME_SAMPLES);
  /** Made once, not per tick: the 20 ms loop allocates nothing it can avoid. */
  private readonly contributes = (id: string): boolean => this.legs.get(id)?.muted === false;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private ticks = 0;
  private late = 0;

  constructor(
    readonly conversationId: string,
    private readonly onSpeaking: (legId: string, on: boolean) => void,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.legs.size;
  }

  get stats(): BridgeStats {
    return { ticks: this.ticks, late: this.late };
  }

  /** Adds a leg: its audio feeds the mix from now on and it receives the mix of the others. */
  add(legId: string, endpoint: AudioEndpoint): void {
    if (this.legs.has(legId)) return;
    const input = new AudioInput();
    const unsubscribe = endpoint.on('audio', (packet) => input.push(packet));
    this.legs.set(legId, {
      id: legId,
      endpoint,
      input,
      encoder: new FrameEncoder(),
      speaking: new SpeakingDetector(),
      muted: false,
      earmuffed: false,
      out: new Int16Array(FRAME_SAMPLES),
      unsubscribe,
    });
    if (this.timer === undefined) this.start();
  }

  /** Removes a leg and frees its codec state; the loop stops with the last leg. */
  remove(legId: string): void {
    const leg = this.legs.get(legId);
    if (!leg) return;
    leg.unsubscribe();
    leg.input.close();
    leg.encoder.close();
    this.legs.delete(legId);
    this.frames.delete(legId);
    if (this.legs.size === 0) this.stop();
  }

  setMuted(legId: string, on: boolean): void {
    const leg = this.legs.get(legId);
    if (leg) leg.muted = on;
  }

  setEarmuffed(legId: string, on: boolean): void {
    const leg = this.legs.get(legId);
    if (leg) leg.earmuffed = on;
  }

  /** One 20 ms step of the bridge (public so that benchmarks can drive it without a timer). */
  tick(): void {
    for (const leg of this.legs.values()) {
      const frame = leg.input.nextFrame();
      this.frames.set(leg.id, frame);
      const change = leg.speaking.update(frame);
      if (change !== undefined) this.onSpeaking(leg.id, change === 'on');
    }
    const { total } = mixFrames(this.frames, this.contributes, this.total);
    for (const leg of this.legs.values()) {
      const out = leg.earmuffed ? this.silence : mixFor(total, this.frames.get(leg.id), !leg.muted, leg.out);
      leg.endpoint.sendAudio(leg.encoder.encode(out));
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    this.startedAt = performance.now();
    this.ticks = 0;
    this.schedule();
  }

  /** A drift-free loop: each run catches up to wall time, so timer jitter does not slow the audio. */
  private schedule(): void {
    const due = this.startedAt + (this.ticks + 1) * FRAME_MS;
    this.timer = setTimeout(() => {
      let due = Math.floor((performance.now() - this.startedAt) / FRAME_MS) - this.ticks;
      if (due > MAX_CATCH_UP) {
        // Stalled for longer than a jitter buffer can absorb: drop the missed frames, play on.
        this.late += due - 1;
        this.ticks += due - 1;
        due = 1;
        this.logger.warn({ conversation_id: this.conversationId }, 'audio bridge fell behind; skipping ahead');
      } else if (due > 1) {
        this.late += due - 1;
      }
      try {
        for (let i = 0; i < due; i++) {
          this.tick();
          this.ticks++;
        }
      } catch (err) {
        this.logger.error({ err, conversation_id: this.conversationId }, 'audio bridge tick failed');
      }
      if (this.legs.size > 0) this.schedule();
    }, Math.max(0, due - performance.now()));
  }
}
