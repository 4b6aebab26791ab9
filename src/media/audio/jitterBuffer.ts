/**
 * A jitter buffer for one incoming audio stream: absorbs network jitter and reordering so that the
 * bridge can take exactly one frame per 20 ms tick. Ordered by RTP sequence number only, since
 * every packet of our streams is one 20 ms frame.
 */
import type { LevelledAudioPacket } from './audioLevel.js';
import { sequenceDelta } from './rtp.js';

/** What one tick gets: a frame to decode (with the sender's RFC 6464 level, if it sent one), a gap to conceal, or nothing to play at all. */
export type JitterPop = { kind: 'frame'; payload: Buffer; audioLevel: number | undefined } | { kind: 'missing' } | { kind: 'empty' };

export interface JitterBufferOptions {
  /** Packets buffered before playing starts (or restarts after a drain); 2 is 40 ms. */
  targetDepth?: number;
  /** Above this many frames of delay, the oldest are dropped to get back to `targetDepth`. */
  maxDepth?: number;
  /** Hard cap on packets held, whatever happens to ticks. */
  capacity?: number;
  /** A sequence jump larger than this (either way) is taken as a new stream, not as loss or lateness. */
  resetJump?: number;
}

/** Counters for metrics and diagnostics. */
export interface JitterStats {
  late: number;
  duplicate: number;
  /** Dropped on overflow or to catch up. */
  dropped: number;
  missing: number;
  resets: number;
}

/** A held packet; handed out as it is when played, so a tick allocates nothing. */
interface Slot {
  readonly kind: 'frame';
  seq: number;
  payload: Buffer;
  audioLevel: number | undefined;
}

const EMPTY: JitterPop = Object.freeze({ kind: 'empty' });
const MISSING: JitterPop = Object.freeze({ kind: 'missing' });

/** Reorders one input's packets and hands out one per tick. */
export class JitterBuffer {
  readonly stats: JitterStats = { late: 0, duplicate: 0, dropped: 0, missing: 0, resets: 0 };
  private readonly targetDepth: number;
  private readonly maxDepth: number;
  private readonly capacity: number;
  private readonly resetJump: number;
  /** Sorted oldest first; sorted by delta to the head, which is a total order within half the sequence space. */
  private readonly slots: Slot[] = [];
  private playing = false;
  /** The next sequence number to play; set once playing has started and kept across drains. */
  private nextSeq: number | undefined;

  constructor(options: JitterBufferOptions = {}) {
    this.targetDepth = Math.max(1, options.targetDepth ?? 2);
    this.maxDepth = Math.max(this.targetDepth, options.maxDepth ?? 10);
    this.capacity = Math.max(this.maxDepth, options.capacity ?? 50);
    this.resetJump = options.resetJump ?? 1000;
  }

  /** Packets currently held. */
  get size(): number {
    return this.slots.length;
  }

  /** Adds one packet; drops duplicates, packets already played past, and the oldest on overflow. */
  push(packet: LevelledAudioPacket): void {
    const seq = packet.sequenceNumber & 0xffff;
    const reference = this.nextSeq ?? this.slots[0]?.seq;
    if (reference !== undefined) {
      const delta = sequenceDelta(seq, reference);
      // A sender that restarts its stream (new SSRC, new random sequence) would otherwise look
      // like a packet from the far past and be dropped for good.
      if (Math.abs(delta) > this.resetJump) this.reset();
      else if (this.nextSeq !== undefined && delta < 0) {
        this.stats.late++;
        return;
      }
    }

    let i = this.slots.length;
    // Packets mostly arrive in order, so search from the newest end.
    while (i > 0) {
      const prev = this.slots[i - 1];
      if (prev === undefined) break;
      const delta = sequenceDelta(seq, prev.seq);
      if (delta === 0) {
        this.stats.duplicate++;
        return;
      }
      if (delta > 0) break;
      i--;
    }
    this.slots.splice(i, 0, { kind: 'frame', seq, payload: packet.payload, audioLevel: packet.audioLevel });

    if (this.slots.length > this.capacity) {
      this.slots.shift();
      this.stats.dropped++;
    }
  }

  /** Takes the frame for this tick; call exactly once per 20 ms. */
  pop(): JitterPop {
    if (!this.playing) {
      const head = this.slots[0];
      if (head === undefined || this.slots.length < this.targetDepth) return EMPTY;
      this.playing = true;
      // After a drain, start from what is here rather than conceal packets that never came:
      // the listener has already heard the gap as silence.
      this.nextSeq = head.seq;
    }
    let next = this.nextSeq ?? 0;

    const newest = this.slots[this.slots.length - 1];
    if (newest === undefined) {
      this.playing = false;
      return EMPTY;
    }
    if (sequenceDelta(newest.seq, next) + 1 > this.maxDepth) {
      // Fallen behind (a burst after a stall, or a sender clock running fast): one jump back to
      // the target delay is a single glitch, where playing through would keep the delay for good.
      next = (newest.seq - this.targetDepth + 1) & 0xffff;
      while (this.slots[0] !== undefined && sequenceDelta(this.slots[0].seq, next) < 0) {
        this.slots.shift();
        this.stats.dropped++;
      }
    }

    const head = this.slots[0];
    this.nextSeq = (next + 1) & 0xffff;
    if (head?.seq === next) {
      this.slots.shift();
      return head;
    }
    this.stats.missing++;
    return MISSING;
  }

  /** Forgets everything, as for a new stream. */
  reset(): void {
    if (this.slots.length > 0 || this.nextSeq !== undefined) this.stats.resets++;
    this.slots.length = 0;
    this.playing = false;
    this.nextSeq = undefined;
  }
}
