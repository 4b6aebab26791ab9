/**
 * One incoming RTP stream mapped onto a playout timeline counted in samples: timestamps extended
 * across their 32-bit wrap, sequence numbers across their 16-bit one (RFC 3550 §A.1), and the
 * decision of when a packet cannot belong to the stream so far and starts a new one.
 */
import { sequenceDelta } from '../audio/rtp.js';

/** Further ahead than this, a timestamp is another clock, not a pause. */
const RESYNC_AHEAD_MS = 3000;
/** A sequence jump larger than this (either way) is a new stream, as for `JitterBuffer`. */
const SEQUENCE_JUMP = 1000;
/** Packets of the new stream during which the previous SSRC's are taken as stragglers. */
const STRAGGLER_PACKETS = 50;

/** What `locate` made of a packet. */
export type Location = 'same' | 'new' | 'straggler';

/** Places one stream's packets on the timeline; a new stream is anchored where the caller says. */
export class PlayoutTimeline {
  /** Of the packet last located: extended sequence number, and first sample on the timeline. */
  seq = 0;
  start = 0;
  private ssrc: number | undefined;
  private previousSsrc: number | undefined;
  private stragglerWindow = 0;
  /** Timeline tick = the stream's extended timestamp + `tsBase`. */
  private tsBase = 0;
  /** Extended timestamp of the latest-starting packet accepted, the reference for extending the next. */
  private newestTs = 0;
  /** Highest extended sequence number accepted. */
  private maxSeq = 0;
  /** Extended timestamp of the packet last located. */
  private ts = 0;
  /** Extended sequence numbers accepted, by their low 8 bits: duplicate detection in O(1). */
  private readonly seen = new Float64Array(256).fill(NaN);
  private readonly resyncAheadTicks: number;

  constructor(
    private readonly samplesPerTick: number,
    sampleRate: number,
  ) {
    this.resyncAheadTicks = (RESYNC_AHEAD_MS * sampleRate) / 1000 / samplesPerTick;
  }

  /** Whether a stream is under way (a packet has started one since the last reset). */
  get started(): boolean {
    return this.ssrc !== undefined;
  }

  /**
   * Extends the packet's numbers against the stream's, setting `seq` and `start` when it is 'same';
   * 'new' asks for `begin`, 'straggler' is the previous SSRC just after a switch.
   */
  locate(packet: { ssrc: number; sequenceNumber: number; timestamp: number }): Location {
    if (packet.ssrc !== this.ssrc) return packet.ssrc === this.previousSsrc && this.stragglerWindow > 0 ? 'straggler' : 'new';
    const seqDelta = sequenceDelta(packet.sequenceNumber, this.maxSeq & 0xffff);
    // `| 0` takes the difference modulo 2^32 as a signed 32-bit number: the wrap is handled here.
    const tsDelta = (packet.timestamp - this.newestTs) | 0;
    // A forward sequence with a backward timestamp cannot be reordering (that moves both back):
    // the sender restarted its clock.
    if (tsDelta > this.resyncAheadTicks || (seqDelta > 0 && tsDelta < 0) || Math.abs(seqDelta) > SEQUENCE_JUMP) return 'new';
    this.place(this.maxSeq + seqDelta, this.newestTs + tsDelta);
    return 'same';
  }

  /** Starts a new stream with `packet`, its first sample at `anchor` (or just after); sets `seq` and `start`. */
  begin(packet: { ssrc: number; sequenceNumber: number; timestamp: number }, anchor: number): void {
    if (this.ssrc !== undefined && packet.ssrc !== this.ssrc) {
      this.previousSsrc = this.ssrc;
      this.stragglerWindow = STRAGGLER_PACKETS;
    }
    this.ssrc = packet.ssrc;
    this.tsBase = Math.ceil(anchor / this.samplesPerTick) - packet.timestamp;
    this.newestTs = packet.timestamp;
    this.maxSeq = packet.sequenceNumber;
    this.seen.fill(NaN);
    this.place(this.maxSeq, this.newestTs);
  }

  /** Whether the packet last located was accepted before. */
  seenBefore(): boolean {
    return this.seen[this.seq & 0xff] === this.seq;
  }

  /** Records the packet last located as accepted: it is now the reference for the next. */
  accept(): void {
    this.seen[this.seq & 0xff] = this.seq;
    if (this.seq > this.maxSeq) this.maxSeq = this.seq;
    if (this.ts > this.newestTs) this.newestTs = this.ts;
    if (this.stragglerWindow > 0) this.stragglerWindow--;
  }

  /** Forgets the stream. */
  reset(): void {
    this.ssrc = this.previousSsrc = undefined;
    this.stragglerWindow = 0;
    this.seen.fill(NaN);
  }

  private place(seq: number, ts: number): void {
    this.seq = seq;
    this.ts = ts;
    this.start = (ts + this.tsBase) * this.samplesPerTick;
  }
}

/** A packet waiting on the timeline. */
export interface HeldPacket {
  /** Timeline positions (samples) of its first sample and one past its last. */
  start: number;
  end: number;
  /** Extended sequence number. */
  seq: number;
  payload: Uint8Array;
  /** First packet of a new stream: the decoder is reset before it. */
  reset: boolean;
  /** The marker bit: the first packet of a talkspurt, so a gap before it is a pause (RFC 3551 §4.1). */
  marker: boolean;
}

const EMPTY_PAYLOAD = new Uint8Array(0);

/** Packets waiting to play, sorted by start (overlaps allowed); their objects are pooled. */
export class HeldPackets {
  /** Samples the packets cover (overlaps counted twice). */
  samples = 0;
  private readonly list: HeldPacket[] = [];
  private readonly pool: HeldPacket[] = [];

  get length(): number {
    return this.list.length;
  }

  /** The earliest-starting packet. */
  get head(): HeldPacket | undefined {
    return this.list[0];
  }

  /** The latest end of the packets held, or `from` if later. */
  end(from: number): number {
    let end = from;
    for (const packet of this.list) end = Math.max(end, packet.end);
    return end;
  }

  /** Inserts a packet in start order; false if one with the same start is held already. */
  insert(start: number, end: number, seq: number, payload: Uint8Array, reset: boolean, marker = false): boolean {
    let i = this.list.length;
    // Packets mostly arrive in order, so search from the newest end.
    while (i > 0) {
      const prev = this.list[i - 1];
      if (prev === undefined || prev.start < start) break;
      if (prev.start === start) return false;
      i--;
    }
    const packet = this.pool.pop() ?? { start, end, seq, payload, reset, marker };
    packet.marker = marker;
    packet.start = start;
    packet.end = end;
    packet.seq = seq;
    packet.payload = payload;
    packet.reset = reset;
    if (i === this.list.length) this.list.push(packet);
    else this.list.splice(i, 0, packet);
    this.samples += end - start;
    return true;
  }

  /** Removes the head; its object goes back to the pool, so read what is needed first. */
  shift(): void {
    const packet = this.list.shift();
    if (packet === undefined) return;
    this.samples -= packet.end - packet.start;
    // Not to keep a received datagram alive in the pool.
    packet.payload = EMPTY_PAYLOAD;
    this.pool.push(packet);
  }

  clear(): void {
    while (this.list.length > 0) this.shift();
  }
}
