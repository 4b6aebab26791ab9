import { FRAME_SAMPLES } from '../audio/frame.js';

/** How a player or tap ended: by itself, stopped on request, or with the bridge (last leg gone). */
export type EndReason = 'done' | 'stopped' | 'closed';

/** Gain for a Vonage-style `level` (-1 to 1, default 0): linear, 0 → silence, 1 → unchanged, 2 → +6 dB. */
export function gainOf(level: number): number {
  const clamped = Math.max(-1, Math.min(1, level));
  return 1 + clamped;
}

/**
 * Audio played into a bridge (a file, speech, DTMF tones): 48 kHz mono PCM handed out one 20 ms
 * frame per tick, `loop` times (0 = until stopped), at a gain. Heard by every leg, or by one.
 */
export class Player {
  private position = 0;
  private played = 0;
  private ended: EndReason | undefined;
  private readonly gain: number;
  private readonly watchers: ((reason: EndReason) => void)[] = [];

  constructor(
    readonly id: string,
    readonly samples: Int16Array,
    options: { loop: number; level: number; legId?: string | undefined },
    private readonly onEnd: (reason: EndReason) => void,
  ) {
    this.loop = options.loop;
    this.legId = options.legId;
    this.level = options.level;
    this.gain = gainOf(options.level);
  }

  readonly level: number;

  readonly loop: number;
  /** The one leg that hears it; everyone when undefined. */
  legId: string | undefined;

  get active(): boolean {
    return this.ended === undefined;
  }

  /** Adds this tick's frame into `acc`; a player that ends mid-frame leaves the rest silent. */
  mixInto(acc: Int32Array): void {
    if (this.ended !== undefined) return;
    if (this.samples.length === 0) {
      this.end('done');
      return;
    }
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      if (this.position >= this.samples.length) {
        this.played++;
        this.position = 0;
        if (this.loop !== 0 && this.played >= this.loop) {
          this.end('done');
          return;
        }
      }
      acc[i] = (acc[i] ?? 0) + Math.round((this.samples[this.position] ?? 0) * this.gain);
      this.position++;
    }
    // A file that ends exactly on a frame boundary is done now, not one silent frame later.
    if (this.position >= this.samples.length && this.loop !== 0 && this.played + 1 >= this.loop) {
      this.played++;
      this.end('done');
    }
  }

  /** Ends the player; the first reason wins and is reported once. */
  end(reason: EndReason): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    this.onEnd(reason);
    for (const watcher of this.watchers) watcher(reason);
  }

  /** Also tells `watcher` when it ends (a bridge on a media thread stops its copy there). */
  whenEnded(watcher: (reason: EndReason) => void): void {
    this.watchers.push(watcher);
  }
}

/**
 * A copy of what the bridge carries, one frame per tick, for a recording: the conversation's mix
 * (what a silent listener hears) or what one leg sends into it (silence while it is muted).
 */
export class Tap {
  private ended: EndReason | undefined;
  private readonly watchers: ((reason: EndReason) => void)[] = [];

  constructor(
    readonly id: string,
    /** The leg whose audio is tapped; the conversation mix when undefined. */
    public legId: string | undefined,
    private readonly sink: (frame: Int16Array) => void,
    private readonly onEnd: (reason: EndReason) => void,
  ) {}

  get active(): boolean {
    return this.ended === undefined;
  }

  /** Hands one frame to the sink (which must copy it if it keeps it: the buffer is reused). */
  take(frame: Int16Array): void {
    if (this.ended === undefined) this.sink(frame);
  }

  end(reason: EndReason): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    this.onEnd(reason);
    for (const watcher of this.watchers) watcher(reason);
  }

  /** Also tells `watcher` when it ends (a bridge on a media thread stops its copy there). */
  whenEnded(watcher: (reason: EndReason) => void): void {
    this.watchers.push(watcher);
  }
}

/** Saturates a 32-bit sum into 16-bit samples (clamping rather than letting Int16Array wrap). */
export function saturate(from: Int32Array, to: Int16Array): Int16Array {
  for (let i = 0; i < to.length; i++) {
    const v = from[i] ?? 0;
    to[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return to;
}
