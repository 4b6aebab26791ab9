/**
 * RTP (RFC 3550) packets as the audio bridge sees them: parsing what a transport hands us, and
 * building the packets we send, for one Opus stream per direction.
 */
import { randomInt } from 'node:crypto';
import { FRAME_SAMPLES } from './frame.js';

/** The fields of an RTP packet the bridge uses. */
export interface RtpPacket {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  /** A view into the parsed packet, not a copy: CSRCs, header extension and padding removed. */
  payload: Buffer;
  /** RFC 6464 client-to-mixer audio level, 0 (loudest) to 127 (−127 dBov, silence), when asked for and present. */
  audioLevel?: number;
}

const HEADER_BYTES = 12;

/** The RTP header extension of RFC 6464: the sender's audio level per packet, so a mixer need not decode to know it. */
export const AUDIO_LEVEL_EXTENSION = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/** RFC 8285 profiles: one-byte elements (ids 1–14), or two-byte ones (ids 1–255, the low 4 bits of the profile are app bits). */
const ONE_BYTE_PROFILE = 0xbede;
const TWO_BYTE_PROFILE = 0x100;

/** How far sequence number `a` is ahead of `b` (negative when behind), across the 65535→0 wrap. */
export function sequenceDelta(a: number, b: number): number {
  return ((((a - b) & 0xffff) + 0x8000) & 0xffff) - 0x8000;
}

/**
 * Parses one RTP packet; `undefined` for anything that is not a well-formed version-2 packet.
 * With `audioLevelId` (the id negotiated for AUDIO_LEVEL_EXTENSION), the packet's level is read too.
 */
export function parseRtp(packet: Buffer, audioLevelId?: number): RtpPacket | undefined {
  if (packet.length < HEADER_BYTES) return undefined;
  const b0 = packet.readUInt8(0);
  const b1 = packet.readUInt8(1);
  if (b0 >> 6 !== 2) return undefined;
  const hasPadding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;

  let start = HEADER_BYTES + csrcCount * 4;
  let audioLevel: number | undefined;
  if (hasExtension) {
    if (packet.length < start + 4) return undefined;
    // The extension length counts 32-bit words after its own 4-byte header.
    const extensionEnd = start + 4 + packet.readUInt16BE(start + 2) * 4;
    if (audioLevelId !== undefined && extensionEnd <= packet.length) audioLevel = findAudioLevel(packet, start, extensionEnd, audioLevelId);
    start = extensionEnd;
  }
  let end = packet.length;
  if (hasPadding) {
    if (end <= start) return undefined;
    const padding = packet.readUInt8(end - 1);
    // The count includes its own byte, so zero is invalid.
    if (padding === 0) return undefined;
    end -= padding;
  }
  if (end < start) return undefined;

  return {
    payloadType: b1 & 0x7f,
    sequenceNumber: packet.readUInt16BE(2),
    timestamp: packet.readUInt32BE(4),
    ssrc: packet.readUInt32BE(8),
    marker: (b1 & 0x80) !== 0,
    payload: packet.subarray(start, end),
    ...(audioLevel !== undefined && { audioLevel }),
  };
}

/** The level byte's low 7 bits (RFC 6464 §3; the top bit is the voice-activity flag) of element `id`, in the extension block [start, end). */
function findAudioLevel(packet: Buffer, start: number, end: number, id: number): number | undefined {
  const profile = packet.readUInt16BE(start);
  const twoByte = profile >> 4 === TWO_BYTE_PROFILE;
  if (profile !== ONE_BYTE_PROFILE && !twoByte) return undefined;
  let at = start + 4;
  while (at < end) {
    const first = packet.readUInt8(at);
    // Padding bytes between elements.
    if (first === 0) {
      at++;
      continue;
    }
    let elementId: number;
    let length: number;
    if (twoByte) {
      if (at + 2 > end) return undefined;
      elementId = first;
      length = packet.readUInt8(at + 1);
      at += 2;
    } else {
      elementId = first >> 4;
      // Id 15 ends the one-byte block.
      if (elementId === 15) return undefined;
      length = (first & 0x0f) + 1;
      at += 1;
    }
    if (at + length > end) return undefined;
    if (elementId === id && length >= 1) return packet.readUInt8(at) & 0x7f;
    at += length;
  }
  return undefined;
}

/** Where a packetizer starts; random by default, as RFC 3550 asks, fixed in tests. */
export interface RtpStart {
  sequenceNumber: number;
  timestamp: number;
}

/** Builds consecutive RTP packets of one outgoing stream (fixed payload type and SSRC). */
export class RtpPacketizer {
  private sequenceNumber: number;
  private timestamp: number;
  private first = true;

  constructor(
    private readonly payloadType: number,
    private readonly ssrc: number,
    start: RtpStart = { sequenceNumber: randomInt(0x10000), timestamp: randomInt(0x1_0000_0000) },
  ) {
    if (!Number.isInteger(payloadType) || payloadType < 0 || payloadType > 127) throw new RangeError(`payload type ${payloadType} is not 0..127`);
    if (!Number.isInteger(ssrc) || ssrc < 0 || ssrc > 0xffff_ffff) throw new RangeError(`ssrc ${ssrc} is not a 32-bit unsigned integer`);
    this.sequenceNumber = start.sequenceNumber & 0xffff;
    this.timestamp = start.timestamp >>> 0;
  }

  /** The next packet's sequence number and timestamp (a stream carried on by another packetizer starts there). */
  get position(): RtpStart {
    return { sequenceNumber: this.sequenceNumber, timestamp: this.timestamp };
  }

  /** Wraps one payload in a 12-byte header, then advances the sequence number by 1 and the timestamp by `samples`. */
  packet(payload: Buffer, samples = FRAME_SAMPLES): Buffer {
    const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
    out.writeUInt8(0x80, 0);
    // The marker flags the start of a talkspurt; for us that is the stream's first packet.
    out.writeUInt8((this.first ? 0x80 : 0) | this.payloadType, 1);
    out.writeUInt16BE(this.sequenceNumber, 2);
    out.writeUInt32BE(this.timestamp, 4);
    out.writeUInt32BE(this.ssrc, 8);
    payload.copy(out, HEADER_BYTES);
    this.first = false;
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.timestamp = (this.timestamp + samples) >>> 0;
    return out;
  }
}
