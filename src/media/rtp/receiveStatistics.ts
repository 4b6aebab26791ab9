/**
 * Receive statistics of the one RTP stream a SIP leg receives, as RFC 3550 keeps them: sequence
 * tracking (A.1), loss (A.3), interarrival jitter (A.8) and the LSR/DLSR echo of the sender's
 * reports (§6.4.1), which give a report block for our RR or SR; and the round trip from the far
 * end's block about our stream.
 */
import { sequenceDelta } from '../audio/rtp.js';
import { compactNtp, ntpFromEpochMs, type ReportBlock } from './rtcp.js';

/** A jump ahead larger than this is a restarted sequence, not loss (RFC 3550's MAX_DROPOUT). */
const MAX_DROPOUT = 3000;
/** A packet further behind than this is a restarted sequence, not a late one (MAX_MISORDER). */
const MAX_MISORDER = 100;
/** Recent sequence numbers remembered to spot duplicates; must exceed MAX_MISORDER. */
const DUPLICATE_WINDOW = 128;
/**
 * A transit change larger than this many seconds is a timestamp discontinuity (a B2BUA or a
 * far end re-anchoring its stream with the same SSRC), not jitter; libwebrtc ignores such jumps too.
 */
const MAX_TRANSIT_JUMP_SECONDS = 5;

/** RFC 3550 receive statistics for one incoming stream; restarts on a new SSRC. */
export class ReceiveStatistics {
  private clockRate: number;
  private currentSsrc: number | undefined;
  /** Extended (wrap-counted) sequence numbers of the first and highest packets of this sequence. */
  private base = 0;
  private highest = 0;
  private received = 0;
  /** Expected and received at the previous report block, for the interval's fraction lost (A.3). */
  private expectedPrior = 0;
  private receivedPrior = 0;
  /** The sequence number that would confirm a big jump as a restart (A.1's bad_seq). */
  private badSequence: number | undefined;
  /** Extended sequence number held in each slot of the duplicate window (-1: none). */
  private readonly seen = new Float64Array(DUPLICATE_WINDOW).fill(-1);
  /** Jitter estimate in RTP clock units, kept unrounded. */
  private jitter = 0;
  /** Timestamp and arrival of the previous timed packet, the reference for the next transit difference. */
  private previousTimestamp: number | undefined;
  private previousArrivalMs = 0;
  /** The newest SR from the stream's sender: compact NTP and our arrival time. */
  private senderReport: { ssrc: number; compact: number; arrivalMs: number } | undefined;
  /** Counts over all sequences and SSRCs, for stats. */
  private receivedEarlier = 0;
  private lostEarlier = 0;
  private duplicateCount = 0;

  constructor(clockRate: number) {
    this.clockRate = checkClockRate(clockRate);
  }

  /** The stream's RTP clock changed (another codec after a re-INVITE); the jitter estimate is rescaled. */
  setClockRate(clockRate: number): void {
    const rate = checkClockRate(clockRate);
    this.jitter = (this.jitter * rate) / this.clockRate;
    this.clockRate = rate;
    // The new codec's timestamps need not follow the old ones: start the transit afresh.
    this.previousTimestamp = undefined;
  }

  /**
   * Counts one received packet. `rtpTimestamp` is undefined for packets whose timestamp does not
   * follow the sampling clock (RFC 4733 events repeat their event's start): they share the
   * sequence numbers, so they count for loss, but they would corrupt the jitter.
   */
  onPacket(ssrc: number, sequenceNumber: number, rtpTimestamp: number | undefined, arrivalMs: number): void {
    const seq = sequenceNumber & 0xffff;
    if (this.currentSsrc !== ssrc) {
      this.restart(ssrc, seq);
      this.resetJitter();
    } else if (!this.track(seq)) return;
    if (rtpTimestamp !== undefined) this.updateJitter(rtpTimestamp >>> 0, arrivalMs);
  }

  /** Remembers an SR from `ssrc` (its compact NTP time and when it arrived) for our next block's LSR and DLSR. */
  onSenderReport(ssrc: number, compactNtpTime: number, arrivalMs: number): void {
    // An SR about some other stream (a stale SSRC, a mixer's) must not be echoed as this one's.
    if (this.currentSsrc !== undefined && ssrc !== this.currentSsrc) return;
    this.senderReport = { ssrc, compact: compactNtpTime >>> 0, arrivalMs };
  }

  /**
   * The report block for our next RTCP report, at `nowMs` (the clock `onSenderReport` was given);
   * undefined before any packet. Fraction lost covers the time since the previous call (A.3).
   */
  reportBlock(nowMs: number): ReportBlock | undefined {
    if (this.currentSsrc === undefined) return undefined;
    const expected = this.expected;
    const expectedInterval = expected - this.expectedPrior;
    const lostInterval = expectedInterval - (this.received - this.receivedPrior);
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    // Late packets of an earlier interval can make this interval's loss negative: report none.
    const fractionLost = expectedInterval <= 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));

    const sr = this.senderReport?.ssrc === this.currentSsrc ? this.senderReport : undefined;
    const delay = sr === undefined ? 0 : Math.round((Math.max(0, nowMs - sr.arrivalMs) * 65536) / 1000);
    return {
      ssrc: this.currentSsrc,
      fractionLost,
      cumulativeLost: Math.min(0x7fffff, Math.max(-0x800000, expected - this.received)),
      extendedHighestSequence: this.highest >>> 0,
      jitter: Math.min(0xffffffff, Math.floor(this.jitter)),
      lastSenderReport: sr?.compact ?? 0,
      delaySinceLastSenderReport: Math.min(0xffffffff, delay),
    };
  }

  /** SSRC of the stream now received; undefined before any packet. */
  get ssrc(): number | undefined {
    return this.currentSsrc;
  }

  /** Packets counted since the start, over every SSRC; duplicates and the packet of an unconfirmed jump excluded. */
  get packets(): number {
    return this.receivedEarlier + this.received;
  }

  /** Packets lost since the start, over every SSRC; never negative. */
  get lost(): number {
    if (this.currentSsrc === undefined) return 0;
    return this.lostEarlier + Math.max(0, this.expected - this.received);
  }

  /** Duplicate packets seen (not counted as received). */
  get duplicates(): number {
    return this.duplicateCount;
  }

  /** The current stream's interarrival jitter estimate in ms. */
  get jitterMs(): number {
    return (this.jitter * 1000) / this.clockRate;
  }

  private get expected(): number {
    return this.highest - this.base + 1;
  }

  /** RFC 3550 A.1 for a packet of the current SSRC; false when it is not counted. */
  private track(seq: number): boolean {
    const delta = sequenceDelta(seq, this.highest & 0xffff);
    if (delta >= MAX_DROPOUT || delta < -MAX_MISORDER) {
      // Two packets in sequence after the jump: the far end restarted its sequence without a new SSRC.
      if (seq === this.badSequence) {
        this.restart(this.currentSsrc ?? 0, seq);
        // Its timestamps most likely jumped too.
        this.previousTimestamp = undefined;
        return true;
      }
      this.badSequence = (seq + 1) & 0xffff;
      return false;
    }
    this.badSequence = undefined;
    const extended = this.highest + delta;
    const slot = extended % DUPLICATE_WINDOW;
    if (this.seen[slot < 0 ? slot + DUPLICATE_WINDOW : slot] === extended) {
      // A.1 counts duplicates as received (so loss can go negative) only because its receiver cannot tell.
      this.duplicateCount++;
      return false;
    }
    this.remember(extended);
    if (delta > 0) this.highest = extended;
    // A packet sent before the first one we got: the sequence began earlier than we thought.
    else if (extended < this.base) this.base = extended;
    this.received++;
    return true;
  }

  /** A new sequence starting at `seq`: A.1's init_seq, keeping the old sequence's counts for stats. */
  private restart(ssrc: number, seq: number): void {
    if (this.currentSsrc !== undefined) {
      this.receivedEarlier += this.received;
      this.lostEarlier += Math.max(0, this.expected - this.received);
    }
    this.currentSsrc = ssrc;
    this.base = seq;
    this.highest = seq;
    this.received = 1;
    this.expectedPrior = 0;
    this.receivedPrior = 0;
    this.badSequence = undefined;
    this.seen.fill(-1);
    this.remember(seq);
    if (this.senderReport !== undefined && this.senderReport.ssrc !== ssrc) this.senderReport = undefined;
  }

  private remember(extended: number): void {
    const slot = extended % DUPLICATE_WINDOW;
    this.seen[slot < 0 ? slot + DUPLICATE_WINDOW : slot] = extended;
  }

  private resetJitter(): void {
    this.jitter = 0;
    this.previousTimestamp = undefined;
  }

  /** RFC 3550 A.8: J += (|D| - J) / 16, D the change in transit time between consecutive arrivals. */
  private updateJitter(timestamp: number, arrivalMs: number): void {
    const previous = this.previousTimestamp;
    this.previousTimestamp = timestamp;
    const arrivalDeltaMs = arrivalMs - this.previousArrivalMs;
    this.previousArrivalMs = arrivalMs;
    if (previous === undefined) return;
    // Differences, not absolute transit times: the timestamp's 2^32 wrap then needs only a signed 32-bit delta.
    const d = Math.abs((arrivalDeltaMs * this.clockRate) / 1000 - ((timestamp - previous) | 0));
    if (d > MAX_TRANSIT_JUMP_SECONDS * this.clockRate) return;
    this.jitter += (d - this.jitter) / 16;
  }
}

/**
 * Round trip in ms from a report block the far end sent about our stream, arriving at
 * `arrivalMs` (Unix ms, the clock our SRs' NTP times came from): RFC 3550 §6.4.1's A − LSR − DLSR.
 * Undefined when the block echoes no SR of ours (LSR 0) or the arithmetic comes out negative.
 */
export function roundTripMs(block: ReportBlock, arrivalMs: number): number | undefined {
  if (block.lastSenderReport === 0) return undefined;
  const ntp = ntpFromEpochMs(arrivalMs);
  const arrival = compactNtp(ntp.seconds, ntp.fraction);
  // Compact NTP wraps every 18 hours; a signed difference covers it.
  const rtt = (arrival - block.lastSenderReport - block.delaySinceLastSenderReport) | 0;
  // The far end rounds its DLSR: tolerate a negative millisecond as zero, anything more is nonsense.
  if (rtt < -66) return undefined;
  return (Math.max(0, rtt) * 1000) / 65536;
}

function checkClockRate(clockRate: number): number {
  if (!Number.isFinite(clockRate) || clockRate <= 0) throw new RangeError(`clock rate ${clockRate} is not positive`);
  return clockRate;
}
