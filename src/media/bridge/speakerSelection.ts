/**
 * Which legs the bridge mixes: the loudest few of those speaking, as large conference servers do,
 * so that the cost of a conversation follows its speakers, not its legs. A voice gate per leg (open
 * at once on a loud frame, closed after a hangover of quiet ones) says who speaks; the mixed set
 * holds at most `maxSpeakers` of them. A free slot is taken at once; when the set is full, a leg
 * gets in only by being louder than the quietest mixed one by a margin for some frames, and that
 * one leaves: the set does not flap between legs of about the same level. A two-party call is
 * not gated at all: both legs are mixed whenever they send, so that what each hears does not change
 * (its background, its breathing) when the bridge goes from forwarding to mixing and back.
 */

export interface SelectionOptions {
  /** Most legs mixed at once (LEGWAY_BRIDGE_MAX_SPEAKERS); default 3. */
  maxSpeakers?: number;
  /** A frame louder than this opens a leg's gate (dBFS); default −50, a little under the speaking event's −45. */
  openDbfs?: number;
  /** Frames quieter than this count towards closing it; default −55. */
  closeDbfs?: number;
  /** Consecutive quiet frames that close it (the hangover); default 20 (400 ms). */
  hangoverFrames?: number;
  /** How much louder than the quietest mixed leg a leg must be to take its place, in dB; default 6. */
  marginDb?: number;
  /** For this many consecutive frames; default 10 (200 ms). */
  switchFrames?: number;
}

/** Below this a level counts as this (RFC 6464's floor), so that averages stay finite. */
const FLOOR_DBFS = -127;
/** Loudness follows a rise quickly and a fall slowly, so a pause between words does not cost a slot. */
const ATTACK = 0.5;
const RELEASE = 0.05;

interface SpeakerState {
  /** The voice gate: this leg speaks and may be mixed. */
  open: boolean;
  quietRun: number;
  /** Smoothed level in dBFS, what slots are contested on. */
  loudness: number;
  mixed: boolean;
  /** It may be mixed this tick (not muted, held or without audio). */
  eligible: boolean;
}

/** The mixed set of one bridge; fed each leg's level once per tick, then settled. */
export class SpeakerSelection {
  readonly maxSpeakers: number;
  private readonly openDbfs: number;
  private readonly closeDbfs: number;
  private readonly hangoverFrames: number;
  private readonly marginDb: number;
  private readonly switchFrames: number;
  private readonly states = new Map<string, SpeakerState>();
  /** The mixed legs, in the order they got in. */
  private readonly mixedIds: string[] = [];
  /** The leg contesting a slot and for how many frames it has been louder by the margin. */
  private challenger: { id: string; frames: number } | undefined;
  private changes = 0;

  constructor(options: SelectionOptions = {}) {
    this.maxSpeakers = Math.max(1, Math.floor(options.maxSpeakers ?? 3));
    this.openDbfs = options.openDbfs ?? -50;
    this.closeDbfs = options.closeDbfs ?? -55;
    this.hangoverFrames = Math.max(1, options.hangoverFrames ?? 20);
    this.marginDb = options.marginDb ?? 6;
    this.switchFrames = Math.max(1, options.switchFrames ?? 10);
  }

  /** The legs mixed now, in the order they got in. */
  get mixed(): readonly string[] {
    return this.mixedIds;
  }

  /** How many times a leg got in or left, since the start (for statistics and tests). */
  get membershipChanges(): number {
    return this.changes;
  }

  isMixed(id: string): boolean {
    return this.states.get(id)?.mixed === true;
  }

  /** Whether the leg's gate is open: it speaks, mixed or not. */
  isActive(id: string): boolean {
    return this.states.get(id)?.open === true;
  }

  /** The leg's smoothed level in dBFS (−127 for a leg never heard). */
  loudness(id: string): number {
    return this.states.get(id)?.loudness ?? FLOOR_DBFS;
  }

  /**
   * One tick's level of a leg (dBFS, −Infinity for nothing). `eligible` false (muted, held, no
   * audio) closes its gate at once: such a leg is never mixed.
   */
  update(id: string, levelDbfs: number, eligible: boolean): void {
    let s = this.states.get(id);
    if (s === undefined) {
      s = { open: false, quietRun: 0, loudness: FLOOR_DBFS, mixed: false, eligible: false };
      this.states.set(id, s);
    }
    const level = levelDbfs < FLOOR_DBFS ? FLOOR_DBFS : levelDbfs;
    s.loudness += (level > s.loudness ? ATTACK : RELEASE) * (level - s.loudness);
    s.eligible = eligible;
    if (!eligible) {
      s.open = false;
      s.quietRun = 0;
    } else if (level > this.openDbfs) {
      s.open = true;
      s.quietRun = 0;
    } else if (level < this.closeDbfs) {
      if (s.open && ++s.quietRun >= this.hangoverFrames) {
        s.open = false;
        s.quietRun = 0;
      }
    } else {
      // Between the thresholds: the gate stays as it is, and the hangover starts over.
      s.quietRun = 0;
    }
  }

  /**
   * Applies this tick's updates to the mixed set: closed gates leave, free slots fill, a clearly
   * louder leg displaces the quietest. With `ungated` (a two-party call), every eligible leg is mixed.
   */
  settle(ungated = false): void {
    for (let i = this.mixedIds.length - 1; i >= 0; i--) {
      const id = this.mixedIds[i];
      const s = id === undefined ? undefined : this.states.get(id);
      if (id !== undefined && !(ungated ? s?.eligible : s?.open)) this.leave(i, id);
    }
    if (ungated) {
      for (const [id, s] of this.states) if (s.eligible && !s.mixed && this.mixedIds.length < this.maxSpeakers) this.enter(id);
      this.challenger = undefined;
      return;
    }
    let best: string | undefined;
    let bestLoudness = -Infinity;
    // Free slots go to the loudest waiting legs first.
    for (;;) {
      best = undefined;
      bestLoudness = -Infinity;
      for (const [id, s] of this.states) {
        if (s.open && !s.mixed && s.loudness > bestLoudness) {
          best = id;
          bestLoudness = s.loudness;
        }
      }
      if (best === undefined || this.mixedIds.length >= this.maxSpeakers) break;
      this.enter(best);
    }
    if (best === undefined) {
      this.challenger = undefined;
      return;
    }
    const quietest = this.quietestMixed();
    if (quietest === undefined || bestLoudness <= this.loudness(quietest) + this.marginDb) {
      this.challenger = undefined;
      return;
    }
    this.challenger = this.challenger?.id === best ? { id: best, frames: this.challenger.frames + 1 } : { id: best, frames: 1 };
    if (this.challenger.frames < this.switchFrames) return;
    this.leave(this.mixedIds.indexOf(quietest), quietest);
    this.enter(best);
    this.challenger = undefined;
  }

  /** Forgets a leg (gone, or moved to another bridge). */
  remove(id: string): void {
    const i = this.mixedIds.indexOf(id);
    if (i >= 0) this.leave(i, id);
    this.states.delete(id);
    if (this.challenger?.id === id) this.challenger = undefined;
  }

  private quietestMixed(): string | undefined {
    let quietest: string | undefined;
    let level = Infinity;
    for (const id of this.mixedIds) {
      const l = this.loudness(id);
      if (l < level) {
        quietest = id;
        level = l;
      }
    }
    return quietest;
  }

  private enter(id: string): void {
    const s = this.states.get(id);
    if (s === undefined || s.mixed) return;
    s.mixed = true;
    this.mixedIds.push(id);
    this.changes++;
  }

  private leave(index: number, id: string): void {
    this.mixedIds.splice(index, 1);
    const s = this.states.get(id);
    if (s) s.mixed = false;
    this.changes++;
  }
}
