/**
 * RFC 4733 telephone-events: DTMF sent as RTP packets of their own payload type rather than as
 * tones. One key press is one event: a run of packets sharing the RTP timestamp of the press's
 * start, each carrying the duration so far, the last ones with the E (end) bit, sent three times.
 */
import { digitToEvent, eventToDigit, type DtmfPress } from './dtmf.js';

/** One telephone-event payload (the first four bytes of the packet). */
export interface TelephoneEvent {
  /** Event code; 0-15 are the DTMF keys. */
  event: number;
  /** E bit: the event has ended, `duration` is final. */
  end: boolean;
  /** Power level in −dBm0 (0-63); informative only. */
  volume: number;
  /** Time since the event (or its current segment) began, in RTP clock units (16 bits). */
  duration: number;
}

/** Largest value of the 16-bit duration field. */
export const MAX_DURATION = 0xffff;

/** Reads the event from a telephone-event payload; undefined when it is too short to hold one. */
export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | undefined {
  // Later 4-byte blocks (several events in one packet, a deprecated form) are ignored.
  const [event, flags, high, low] = payload;
  if (event === undefined || flags === undefined || high === undefined || low === undefined) return undefined;
  return { event, end: (flags & 0x80) !== 0, volume: flags & 0x3f, duration: (high << 8) | low };
}

/** Builds a 4-byte telephone-event payload (the R bit is zero, as RFC 4733 requires). */
export function buildTelephoneEvent(event: TelephoneEvent): Buffer {
  if (!Number.isInteger(event.event) || event.event < 0 || event.event > 255) throw new RangeError(`event ${event.event} is not 0..255`);
  if (!Number.isInteger(event.duration) || event.duration < 0 || event.duration > MAX_DURATION) throw new RangeError(`duration ${event.duration} is not 0..65535`);
  const out = Buffer.alloc(4);
  out[0] = event.event;
  out[1] = (event.end ? 0x80 : 0) | (Math.max(0, Math.min(63, Math.round(event.volume))) & 0x3f);
  out.writeUInt16BE(event.duration, 2);
  return out;
}

/** What the receiver needs of an incoming telephone-event RTP packet. */
export interface TelephoneEventPacket {
  timestamp: number;
  marker: boolean;
  payload: Uint8Array;
}

export interface DtmfReceiverOptions {
  /** The negotiated telephone-event clock rate. */
  clockRate?: number;
  /** An event with no packet for this long is taken as ended (all its end packets lost). */
  endTimeoutMs?: number;
  /** Milliseconds on a monotonic clock; injected in tests. */
  now?: () => number;
}

interface Ongoing {
  event: number;
  /** RTP timestamp of the current segment (a long press is sent in segments, see `push`). */
  segmentTs: number;
  /** Clock units of the segments before the current one. */
  base: number;
  /** Largest duration seen in the current segment, and how often it wrapped past 16 bits. */
  duration: number;
  wraps: number;
  lastPacketAt: number;
}

/** How many finished events' timestamps are remembered, to drop their late and repeated packets. */
const FINISHED_MEMORY = 16;
/** A timestamp this far behind (seconds of clock) is a restarted stream, not a late packet. */
const STALE_WINDOW_S = 60;

/**
 * Turns a stream of telephone-event packets into key presses, each reported once, when it ends,
 * with its full duration: repeated end packets, retransmitted starts, duplicates and late packets
 * of an event already reported are dropped.
 */
export class DtmfReceiver {
  private readonly clockRate: number;
  private readonly endTimeoutMs: number;
  private readonly now: () => number;
  private ongoing: Ongoing | undefined;
  private readonly finished: number[] = [];
  private newestFinished: number | undefined;

  constructor(options: DtmfReceiverOptions = {}) {
    this.clockRate = options.clockRate ?? 8000;
    this.endTimeoutMs = options.endTimeoutMs ?? 400;
    this.now = options.now ?? (() => performance.now());
  }

  /** Takes one packet; returns the presses it completes (usually none, at most two). */
  push(packet: TelephoneEventPacket): DtmfPress[] {
    const parsed = parseTelephoneEvent(packet.payload);
    // Non-key events (flash, line tones) are not presses.
    if (parsed === undefined || eventToDigit(parsed.event) === undefined) return [];
    const ts = packet.timestamp >>> 0;
    if (this.finished.includes(ts)) return [];
    const reports: DtmfPress[] = [];
    const ongoing = this.ongoing;

    if (ongoing !== undefined && ts === ongoing.segmentTs) {
      if (parsed.event === ongoing.event) this.update(ongoing, parsed, reports);
      return reports;
    }
    if (ongoing !== undefined) {
      const delta = signed(ts - ongoing.segmentTs);
      if (delta < 0 && -delta <= this.staleWindow) return reports;
      if (delta > 0 && this.continues(ongoing, parsed, packet.marker, delta)) {
        // A press longer than the 16-bit duration goes on in a new segment whose timestamp is the
        // old one plus the old segment's duration; it is the same press, not a new one.
        this.remember(ongoing.segmentTs);
        ongoing.base += delta;
        ongoing.segmentTs = ts;
        ongoing.duration = 0;
        ongoing.wraps = 0;
        this.update(ongoing, parsed, reports);
        return reports;
      }
      // A new timestamp is a new event: the old one ended without an end packet reaching us.
      this.finish(ongoing, reports);
    } else if (this.newestFinished !== undefined) {
      const delta = signed(ts - this.newestFinished);
      if (delta < 0 && -delta <= this.staleWindow) return reports;
    }

    const started: Ongoing = { event: parsed.event, segmentTs: ts, base: 0, duration: 0, wraps: 0, lastPacketAt: this.now() };
    this.ongoing = started;
    this.update(started, parsed, reports);
    return reports;
  }

  /** Ends an event whose packets stopped coming without an end packet; call now and then. */
  poll(): DtmfPress | undefined {
    const ongoing = this.ongoing;
    if (ongoing === undefined || this.now() - ongoing.lastPacketAt < this.endTimeoutMs) return undefined;
    const reports: DtmfPress[] = [];
    this.finish(ongoing, reports);
    return reports[0];
  }

  /** Forgets everything, as for a new stream (new SSRC); an unfinished press is dropped. */
  reset(): void {
    this.ongoing = undefined;
    this.finished.length = 0;
    this.newestFinished = undefined;
  }

  private get staleWindow(): number {
    return this.clockRate * STALE_WINDOW_S;
  }

  private continues(ongoing: Ongoing, next: TelephoneEvent, marker: boolean, delta: number): boolean {
    // Only a segment that ran close to the 16-bit limit can have a successor; a quick second press
    // of the same key is a new event even when its marker was lost.
    const tolerance = this.clockRate / 10;
    return !marker && next.event === ongoing.event && ongoing.wraps === 0 && ongoing.duration >= 0x8000 && delta >= ongoing.duration - tolerance && delta <= MAX_DURATION + tolerance;
  }

  private update(ongoing: Ongoing, event: TelephoneEvent, reports: DtmfPress[]): void {
    ongoing.lastPacketAt = this.now();
    // Some senders let the 16-bit duration wrap instead of starting a segment: a drop by more
    // than half the range is a wrap, a smaller one a reordered packet.
    if (event.duration < ongoing.duration - 0x8000) {
      ongoing.wraps++;
      ongoing.duration = event.duration;
    } else if (event.duration > ongoing.duration && !(ongoing.wraps > 0 && event.duration > ongoing.duration + 0x8000)) {
      ongoing.duration = event.duration;
    }
    if (event.end) this.finish(ongoing, reports);
  }

  private finish(ongoing: Ongoing, reports: DtmfPress[]): void {
    const digit = eventToDigit(ongoing.event);
    const units = ongoing.base + ongoing.wraps * 0x10000 + ongoing.duration;
    if (digit !== undefined) reports.push({ digit, durationMs: Math.round((units * 1000) / this.clockRate) });
    this.remember(ongoing.segmentTs);
    this.newestFinished = ongoing.segmentTs;
    this.ongoing = undefined;
  }

  private remember(ts: number): void {
    this.finished.push(ts);
    if (this.finished.length > FINISHED_MEMORY) this.finished.shift();
  }
}

/** `a` as a signed 32-bit difference: RTP timestamps wrap. */
function signed(a: number): number {
  return a | 0;
}

export interface DtmfSenderOptions {
  /** The negotiated telephone-event clock rate. */
  clockRate?: number;
  /** Packet interval; the caller ticks the sender this often. */
  packetMs?: number;
  /** How long each key is held. */
  toneMs?: number;
  /** Silence after a key's last end packet before the next key starts. */
  gapMs?: number;
  /** Power level in −dBm0 written into the packets. */
  volume?: number;
  /** How many times the end packet is sent (RFC 4733 asks for three). */
  endPackets?: number;
}

/** A telephone-event packet to send now, with the RTP timestamp and marker it must carry. */
export interface OutgoingEvent {
  payload: Buffer;
  timestamp: number;
  marker: boolean;
}

interface Sending {
  event: number;
  /** Timestamp of the current segment, and the clock units elapsed before it. */
  segmentTs: number;
  base: number;
  /** Clock units since the press began, up to and including the current packet. */
  elapsed: number;
  endsSent: number;
  first: boolean;
}

/**
 * Produces the packets for a queue of keys, one tick per packet interval: a start packet with the
 * marker bit, an update every interval with the duration so far, the end packet three times, then
 * a gap. Every packet of one press carries the press's start timestamp (per segment for a press
 * longer than the 16-bit duration allows). The caller supplies the stream's timestamp each tick,
 * so events and audio share one clock.
 */
export class DtmfSender {
  private readonly unitsPerPacket: number;
  private readonly toneUnits: number;
  private readonly gapTicks: number;
  private readonly volume: number;
  private readonly endPackets: number;
  /** Longest segment, a whole number of packets within the 16-bit duration. */
  private readonly maxSegment: number;
  private readonly queue: number[] = [];
  private sending: Sending | undefined;
  private gapLeft = 0;

  constructor(options: DtmfSenderOptions = {}) {
    const clockRate = options.clockRate ?? 8000;
    const packetMs = options.packetMs ?? 20;
    const toneMs = options.toneMs ?? 100;
    if (!(toneMs >= packetMs)) throw new RangeError(`tone of ${toneMs} ms is shorter than one packet (${packetMs} ms)`);
    this.unitsPerPacket = Math.round((clockRate * packetMs) / 1000);
    this.toneUnits = Math.ceil((toneMs * clockRate) / 1000 / this.unitsPerPacket) * this.unitsPerPacket;
    this.gapTicks = Math.ceil((options.gapMs ?? 60) / packetMs);
    this.volume = options.volume ?? 10;
    this.endPackets = Math.max(1, options.endPackets ?? 3);
    this.maxSegment = Math.floor(MAX_DURATION / this.unitsPerPacket) * this.unitsPerPacket;
  }

  /** Queues keys to send after any already queued; throws RangeError (queuing nothing) on a non-key. */
  enqueue(digits: string): void {
    const events: number[] = [];
    for (const d of digits) {
      const event = digitToEvent(d);
      if (event === undefined) throw new RangeError(`not a DTMF key: ${JSON.stringify(d)}`);
      events.push(event);
    }
    this.queue.push(...events);
  }

  /** A press is on the wire (including its repeated end packets): audio must pause, as RFC 4733 asks. */
  get active(): boolean {
    return this.sending !== undefined;
  }

  /** Keys are queued or being sent. */
  get pending(): boolean {
    return this.sending !== undefined || this.queue.length > 0;
  }

  /** Drops queued keys; a press already started still ends properly. */
  clear(): void {
    this.queue.length = 0;
  }

  /** One packet interval at stream timestamp `timestamp`: the event packet to send, if any. */
  tick(timestamp: number): OutgoingEvent | undefined {
    let sending = this.sending;
    if (sending === undefined) {
      if (this.gapLeft > 0) {
        this.gapLeft--;
        return undefined;
      }
      const event = this.queue.shift();
      if (event === undefined) return undefined;
      sending = { event, segmentTs: timestamp >>> 0, base: 0, elapsed: 0, endsSent: 0, first: true };
      this.sending = sending;
    }

    if (sending.endsSent === 0) {
      sending.elapsed += this.unitsPerPacket;
      if (sending.elapsed - sending.base > this.maxSegment) {
        sending.base += this.maxSegment;
        sending.segmentTs = (sending.segmentTs + this.maxSegment) >>> 0;
      }
    }
    const end = sending.elapsed >= this.toneUnits;
    const payload = buildTelephoneEvent({ event: sending.event, end, volume: this.volume, duration: sending.elapsed - sending.base });
    const out: OutgoingEvent = { payload, timestamp: sending.segmentTs, marker: sending.first };
    sending.first = false;
    if (end) {
      sending.endsSent++;
      if (sending.endsSent >= this.endPackets) {
        this.sending = undefined;
        this.gapLeft = this.gapTicks;
      }
    }
    return out;
  }
}
