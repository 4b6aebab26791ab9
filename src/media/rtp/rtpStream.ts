/**
 * The two ends of one plain RTP stream: building the packets we send (one SSRC and sequence for
 * audio and telephone-events alike, timestamps set by the caller), sorting the datagrams we
 * receive, and counting what was lost of the stream, as RFC 3550 (A.3) counts it.
 */
import { randomInt } from 'node:crypto';
import { parseRtp, sequenceDelta, type RtpPacket } from '../audio/rtp.js';

const HEADER_BYTES = 12;

/** The header fields of one outgoing packet that change from packet to packet. */
export interface OutgoingHeader {
  payloadType: number;
  timestamp: number;
  marker: boolean;
}

/** Numbers one outgoing stream's packets: a random SSRC and starting sequence, as RFC 3550 asks. */
export class RtpSender {
  readonly ssrc: number;
  private sequenceNumber: number;

  constructor(start: { ssrc?: number; sequenceNumber?: number } = {}) {
    this.ssrc = (start.ssrc ?? randomInt(0x1_0000_0000)) >>> 0;
    this.sequenceNumber = (start.sequenceNumber ?? randomInt(0x10000)) & 0xffff;
  }

  /** Wraps `payload` in a 12-byte header with the next sequence number. */
  packet(header: OutgoingHeader, payload: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
    out[0] = 0x80;
    out[1] = (header.marker ? 0x80 : 0) | (header.payloadType & 0x7f);
    out.writeUInt16BE(this.sequenceNumber, 2);
    out.writeUInt32BE(header.timestamp >>> 0, 4);
    out.writeUInt32BE(this.ssrc, 8);
    out.set(payload, HEADER_BYTES);
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    return out;
  }
}

/** A jump in sequence numbers larger than this is a restarted stream, not loss (RFC 3550's MAX_DROPOUT). */
const MAX_DROPOUT = 3000;

/** Loss of one incoming stream, kept across SSRC changes (a far end that restarts its stream). */
export class LossCounter {
  private ssrc: number | undefined;
  /** Extended (wrap-counted) sequence numbers of the current SSRC's first and highest packets. */
  private base = 0;
  private highest = 0;
  private received = 0;
  /** Loss of earlier SSRCs. */
  private earlier = 0;

  /** Counts one accepted packet. */
  update(ssrc: number, sequenceNumber: number): void {
    if (this.ssrc !== ssrc) {
      this.earlier = this.lost;
      this.restart(ssrc, sequenceNumber);
      return;
    }
    const delta = sequenceDelta(sequenceNumber, this.highest & 0xffff);
    if (delta > MAX_DROPOUT || delta < -MAX_DROPOUT) {
      this.earlier = this.lost;
      this.restart(ssrc, sequenceNumber);
      return;
    }
    if (delta > 0) this.highest += delta;
    this.received++;
  }

  /** Packets expected but not received; duplicates can make up for losses, never below zero. */
  get lost(): number {
    if (this.ssrc === undefined) return this.earlier;
    return this.earlier + Math.max(0, this.highest - this.base + 1 - this.received);
  }

  private restart(ssrc: number, sequenceNumber: number): void {
    this.ssrc = ssrc;
    this.base = sequenceNumber;
    this.highest = sequenceNumber;
    this.received = 1;
  }
}

/** What one received datagram is, for a stream with these payload types (none yet: nothing fits). */
export type Datagram =
  | { kind: 'audio' | 'event'; packet: RtpPacket }
  | { kind: 'rtcp' }
  | { kind: 'malformed' }
  | { kind: 'unknownPayloadType' };

/** Sorts a datagram without trusting any of it; never throws. */
export function classifyDatagram(msg: Buffer, payloadTypes: { payloadType: number; telephoneEventPt?: number } | undefined): Datagram {
  const second = msg[1];
  // RTCP multiplexed on the RTP port (RFC 5761): packet types 192-223 where RTP has marker + PT.
  if (msg.length >= 8 && (msg[0] ?? 0) >> 6 === 2 && second !== undefined && second >= 192 && second <= 223) return { kind: 'rtcp' };
  const packet = parseRtp(msg);
  if (packet === undefined) return { kind: 'malformed' };
  const isEvent = payloadTypes?.telephoneEventPt !== undefined && packet.payloadType === payloadTypes.telephoneEventPt;
  if (!isEvent && packet.payloadType !== payloadTypes?.payloadType) return { kind: 'unknownPayloadType' };
  // An event needs its 4-byte block; audio needs at least one sample.
  if (packet.payload.length < (isEvent ? 4 : 1)) return { kind: 'malformed' };
  return { kind: isEvent ? 'event' : 'audio', packet };
}
