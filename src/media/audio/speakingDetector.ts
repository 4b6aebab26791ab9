/**
 * Who is talking, from one leg's decoded audio: frame energy with separate on and off thresholds
 * (hysteresis) and a hangover, so that the pauses between words do not flap the state.
 */
import { FRAME_MS } from './frame.js';

export interface SpeakingOptions {
  /** A frame louder than this counts towards switching on. */
  onDbfs?: number;
  /** A frame quieter than this counts towards switching off. */
  offDbfs?: number;
  /** Consecutive loud frames needed to switch on (3 = 60 ms). */
  onFrames?: number;
  /** Consecutive quiet frames needed to switch off (20 = 400 ms). */
  offFrames?: number;
}

/** RMS level of a frame in dB relative to full scale (a full-scale square wave is 0); -Infinity for silence. */
export function frameDbfs(frame: Int16Array | undefined): number {
  if (frame === undefined || frame.length === 0) return -Infinity;
  let sum = 0;
  for (let i = 0; i < frame.length; i++) {
    const s = frame[i] ?? 0;
    sum += s * s;
  }
  return 10 * Math.log10(sum / frame.length / (32768 * 32768));
}

/** Turns a leg's frames into speaking on/off changes. */
export class SpeakingDetector {
  private readonly onDbfs: number;
  private readonly offDbfs: number;
  private readonly onFrames: number;
  private readonly offFrames: number;
  private on = false;
  private run = 0;

  constructor(options: SpeakingOptions = {}) {
    this.onDbfs = options.onDbfs ?? -45;
    this.offDbfs = options.offDbfs ?? -55;
    this.onFrames = Math.max(1, options.onFrames ?? 3);
    this.offFrames = Math.max(1, options.offFrames ?? 400 / FRAME_MS);
  }

  /** Whether the leg is currently speaking. */
  get speaking(): boolean {
    return this.on;
  }

  /** Feeds one tick's frame (`undefined` is silence); returns the new state only when it changes. */
  update(frame: Int16Array | undefined): 'on' | 'off' | undefined {
    return this.updateLevel(frameDbfs(frame));
  }

  /** Feeds one tick's level in dBFS, measured (`frameDbfs`) or as the sender reported it (RFC 6464); as `update`. */
  updateLevel(level: number): 'on' | 'off' | undefined {
    // Levels between the two thresholds keep the current state and restart the count towards
    // the other one: that gap is the hysteresis.
    const towardsChange = this.on ? level < this.offDbfs : level > this.onDbfs;
    this.run = towardsChange ? this.run + 1 : 0;
    if (this.run < (this.on ? this.offFrames : this.onFrames)) return undefined;
    this.on = !this.on;
    this.run = 0;
    return this.on ? 'on' : 'off';
  }

  /** Back to not speaking without reporting a change (for a leg that is muted or gone). */
  reset(): void {
    this.on = false;
    this.run = 0;
  }
}
