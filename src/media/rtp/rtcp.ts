/**
 * RTCP packets (RFC 3550 §6) for plain RTP: building the compound report we send (SR or RR, then
 * SDES CNAME), a BYE for when a leg ends, and reading the far end's compound packets, validated
 * as RFC 3550 A.2 describes. Nothing here touches a socket or a clock.
 */

/** What an SR says about the stream its sender sends (RFC 3550 §6.4.1). */
export interface SenderInfo {
  /** NTP timestamp of the report: whole seconds since 1900 and the fraction in 1/2^32 s. */
  ntpSeconds: number;
  ntpFraction: number;
  /** The same instant on the sender's RTP clock. */
  rtpTimestamp: number;
  /** Packets and payload octets (headers and padding excluded) sent since the stream began. */
  packetCount: number;
  octetCount: number;
}

/** One reception report block: what a receiver says about one stream it receives. */
export interface ReportBlock {
  /** SSRC of the stream reported on. */
  ssrc: number;
  /** Fraction of packets lost since the previous report, in 1/256 (0..255). */
  fractionLost: number;
  /** Packets lost since reception began: signed 24-bit (duplicates can make it negative). */
  cumulativeLost: number;
  /** Highest sequence number received, with the count of 16-bit wraps in the upper half. */
  extendedHighestSequence: number;
  /** Interarrival jitter in RTP clock units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received from that stream's sender; 0 if none. */
  lastSenderReport: number;
  /** Time between receiving that SR and sending this block, in 1/65536 s; 0 if none. */
  delaySinceLastSenderReport: number;
}

/** An SR as parsed: its sender's SSRC, sender info and report blocks. */
export interface SenderReport {
  ssrc: number;
  sender: SenderInfo;
  blocks: ReportBlock[];
}

/** An RR as parsed: its sender's SSRC and report blocks. */
export interface ReceiverReport {
  ssrc: number;
  blocks: ReportBlock[];
}

/** What a compound RTCP packet carried that we read; other packet types are skipped. */
export interface RtcpCompound {
  senderReports: SenderReport[];
  receiverReports: ReceiverReport[];
  /** CNAME by SSRC, from the SDES packets. */
  cnames: Map<number, string>;
  /** SSRCs that said goodbye. */
  byes: number[];
}

const VERSION_BITS = 0x80;
const PT_SR = 200;
const PT_RR = 201;
const PT_SDES = 202;
const PT_BYE = 203;
const SDES_CNAME = 1;
const HEADER_BYTES = 4;
const BLOCK_BYTES = 24;
const SENDER_INFO_BYTES = 20;
/** The 5-bit count field's limit; more blocks go into further RR packets (RFC 3550 §6.4.2). */
const MAX_BLOCKS = 31;
/** SDES items carry an 8-bit length. */
const MAX_SDES_TEXT = 255;
/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET = 2_208_988_800;
const TWO_32 = 0x1_0000_0000;

/** An NTP timestamp for a Unix time in ms; the seconds wrap modulo 2^32 as NTP's do (era 1 from 2036). */
export function ntpFromEpochMs(ms: number): { seconds: number; fraction: number } {
  const wholeSeconds = Math.floor(ms / 1000);
  // Sub-millisecond times (performance.timeOrigin + now()) keep their precision.
  const fraction = Math.min(TWO_32 - 1, Math.floor(((ms - wholeSeconds * 1000) / 1000) * TWO_32));
  return { seconds: (wholeSeconds + NTP_UNIX_OFFSET) >>> 0, fraction: fraction >>> 0 };
}

/** The middle 32 bits of an NTP timestamp (units of 1/65536 s), as LSR and RTT arithmetic use it. */
export function compactNtp(seconds: number, fraction: number): number {
  return (((seconds & 0xffff) << 16) | (fraction >>> 16)) >>> 0;
}

/**
 * Our compound report: an SR when `sender` is given, else an RR, then an SDES with our CNAME
 * (RFC 3550 §6.1). Blocks beyond 31 go into further RR packets; a CNAME longer than 255 bytes
 * is cut. Out-of-range numbers are wrapped or clamped to their fields, never thrown on.
 */
export function buildCompound(report: { ssrc: number; sender?: SenderInfo; blocks: readonly ReportBlock[]; cname: string }): Buffer {
  const packets: Buffer[] = [];
  const first = report.blocks.slice(0, MAX_BLOCKS);
  packets.push(report.sender ? senderReport(report.ssrc, report.sender, first) : receiverReport(report.ssrc, first));
  for (let i = MAX_BLOCKS; i < report.blocks.length; i += MAX_BLOCKS) {
    packets.push(receiverReport(report.ssrc, report.blocks.slice(i, i + MAX_BLOCKS)));
  }
  packets.push(sdesCname(report.ssrc, report.cname));
  return Buffer.concat(packets);
}

/**
 * A BYE packet for `ssrc`, with an optional reason (cut to 255 bytes). On its own it is not a
 * valid compound packet: send it after a report, as in `Buffer.concat([buildCompound(…), buildBye(…)])`.
 */
export function buildBye(ssrc: number, reason?: string): Buffer {
  const text = reason === undefined ? undefined : utf8Prefix(reason, MAX_SDES_TEXT);
  const body = 4 + (text === undefined ? 0 : padded(1 + text.length));
  const out = header(PT_BYE, 1, body);
  out.writeUInt32BE(ssrc >>> 0, HEADER_BYTES);
  if (text !== undefined) {
    out[HEADER_BYTES + 4] = text.length;
    text.copy(out, HEADER_BYTES + 5);
  }
  return out;
}

/**
 * Reads one received compound RTCP datagram; `undefined` unless it passes RFC 3550 A.2 (version
 * 2 throughout, first packet SR or RR, padding only on the last, lengths adding up exactly to
 * the datagram) and every SR, RR and BYE fits its length. Never throws.
 */
export function parseCompound(datagram: Buffer): RtcpCompound | undefined {
  if (datagram.length < HEADER_BYTES || datagram.length % 4 !== 0) return undefined;
  const firstType = datagram[1];
  if (firstType !== PT_SR && firstType !== PT_RR) return undefined;

  const compound: RtcpCompound = { senderReports: [], receiverReports: [], cnames: new Map(), byes: [] };
  let offset = 0;
  while (offset < datagram.length) {
    const b0 = datagram[offset] ?? 0;
    const type = datagram[offset + 1] ?? 0;
    const end = offset + HEADER_BYTES + datagram.readUInt16BE(offset + 2) * 4;
    if (b0 >> 6 !== 2 || end > datagram.length) return undefined;
    let contentEnd = end;
    if ((b0 & 0x20) !== 0) {
      // Only the last packet may be padded; the count includes its own octet, so 0 is invalid.
      if (end !== datagram.length) return undefined;
      const padding = datagram[end - 1] ?? 0;
      if (padding === 0 || padding > end - offset - HEADER_BYTES) return undefined;
      contentEnd = end - padding;
    }
    const count = b0 & 0x1f;
    const content = datagram.subarray(offset + HEADER_BYTES, contentEnd);
    if (!readPacket(type, count, content, compound)) return undefined;
    offset = end;
  }
  return compound;
}

/** Adds one packet's contents to `compound`; false when they do not fit its length. */
function readPacket(type: number, count: number, content: Buffer, compound: RtcpCompound): boolean {
  switch (type) {
    case PT_SR: {
      // Anything after the blocks is a profile-specific extension, which we do not read.
      if (content.length < 4 + SENDER_INFO_BYTES + count * BLOCK_BYTES) return false;
      compound.senderReports.push({
        ssrc: content.readUInt32BE(0),
        sender: {
          ntpSeconds: content.readUInt32BE(4),
          ntpFraction: content.readUInt32BE(8),
          rtpTimestamp: content.readUInt32BE(12),
          packetCount: content.readUInt32BE(16),
          octetCount: content.readUInt32BE(20),
        },
        blocks: readBlocks(content, 4 + SENDER_INFO_BYTES, count),
      });
      return true;
    }
    case PT_RR: {
      if (content.length < 4 + count * BLOCK_BYTES) return false;
      compound.receiverReports.push({ ssrc: content.readUInt32BE(0), blocks: readBlocks(content, 4, count) });
      return true;
    }
    case PT_BYE: {
      // An optional reason may follow the SSRCs; we have no use for it.
      if (content.length < count * 4) return false;
      for (let i = 0; i < count; i++) compound.byes.push(content.readUInt32BE(i * 4));
      return true;
    }
    case PT_SDES:
      readCnames(content, count, compound.cnames);
      return true;
    default:
      // APP, XR, RTPFB, PSFB and anything newer: their length was checked, their contents are not ours.
      return true;
  }
}

/** `count` report blocks starting at `offset`; the caller has checked they fit. */
function readBlocks(content: Buffer, offset: number, count: number): ReportBlock[] {
  const blocks: ReportBlock[] = [];
  for (let i = 0; i < count; i++) {
    const at = offset + i * BLOCK_BYTES;
    const lost = content.readUInt32BE(at + 4);
    const cumulative = lost & 0xffffff;
    blocks.push({
      ssrc: content.readUInt32BE(at),
      fractionLost: lost >>> 24,
      cumulativeLost: cumulative >= 0x800000 ? cumulative - 0x1000000 : cumulative,
      extendedHighestSequence: content.readUInt32BE(at + 8),
      jitter: content.readUInt32BE(at + 12),
      lastSenderReport: content.readUInt32BE(at + 16),
      delaySinceLastSenderReport: content.readUInt32BE(at + 20),
    });
  }
  return blocks;
}

/**
 * The CNAME items of an SDES packet's chunks. A chunk that runs past the packet ends the reading
 * but not the compound: SDES is only naming, and the reports beside it are still good.
 */
function readCnames(content: Buffer, count: number, cnames: Map<number, string>): void {
  let at = 0;
  for (let chunk = 0; chunk < count; chunk++) {
    if (at + 4 > content.length) return;
    const ssrc = content.readUInt32BE(at);
    at += 4;
    for (;;) {
      const type = content[at];
      if (type === undefined) return;
      if (type === 0) break;
      const length = content[at + 1];
      if (length === undefined || at + 2 + length > content.length) return;
      if (type === SDES_CNAME) cnames.set(ssrc, content.toString('utf8', at + 2, at + 2 + length));
      at += 2 + length;
    }
    // The null item ends the list; padding takes the next chunk to a 32-bit boundary.
    at = padded(at + 1);
  }
}

function senderReport(ssrc: number, sender: SenderInfo, blocks: readonly ReportBlock[]): Buffer {
  const out = header(PT_SR, blocks.length, 4 + SENDER_INFO_BYTES + blocks.length * BLOCK_BYTES);
  let at = HEADER_BYTES;
  for (const value of [ssrc, sender.ntpSeconds, sender.ntpFraction, sender.rtpTimestamp, sender.packetCount, sender.octetCount]) {
    out.writeUInt32BE(value >>> 0, at);
    at += 4;
  }
  writeBlocks(out, at, blocks);
  return out;
}

function receiverReport(ssrc: number, blocks: readonly ReportBlock[]): Buffer {
  const out = header(PT_RR, blocks.length, 4 + blocks.length * BLOCK_BYTES);
  out.writeUInt32BE(ssrc >>> 0, HEADER_BYTES);
  writeBlocks(out, HEADER_BYTES + 4, blocks);
  return out;
}

function writeBlocks(out: Buffer, offset: number, blocks: readonly ReportBlock[]): void {
  blocks.forEach((block, i) => {
    const at = offset + i * BLOCK_BYTES;
    const fraction = Math.min(255, Math.max(0, Math.trunc(block.fractionLost)));
    const cumulative = Math.min(0x7fffff, Math.max(-0x800000, Math.trunc(block.cumulativeLost))) & 0xffffff;
    out.writeUInt32BE(block.ssrc >>> 0, at);
    out.writeUInt32BE(((fraction << 24) | cumulative) >>> 0, at + 4);
    out.writeUInt32BE(block.extendedHighestSequence >>> 0, at + 8);
    out.writeUInt32BE(block.jitter >>> 0, at + 12);
    out.writeUInt32BE(block.lastSenderReport >>> 0, at + 16);
    out.writeUInt32BE(block.delaySinceLastSenderReport >>> 0, at + 20);
  });
}

/** One SDES chunk: our SSRC, a CNAME item, then at least one null octet up to a 32-bit boundary. */
function sdesCname(ssrc: number, cname: string): Buffer {
  const text = utf8Prefix(cname, MAX_SDES_TEXT);
  const out = header(PT_SDES, 1, padded(4 + 2 + text.length + 1));
  out.writeUInt32BE(ssrc >>> 0, HEADER_BYTES);
  out[HEADER_BYTES + 4] = SDES_CNAME;
  out[HEADER_BYTES + 5] = text.length;
  text.copy(out, HEADER_BYTES + 6);
  return out;
}

/** A zero-filled packet with its common header: version 2, no padding, `count`, type and length. */
function header(type: number, count: number, bodyBytes: number): Buffer {
  const out = Buffer.alloc(HEADER_BYTES + bodyBytes);
  out[0] = VERSION_BITS | count;
  out[1] = type;
  // The length field counts 32-bit words, less one.
  out.writeUInt16BE(out.length / 4 - 1, 2);
  return out;
}

/** `text` as UTF-8, cut to at most `max` bytes without splitting a character. */
function utf8Prefix(text: string, max: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back off continuation bytes (10xxxxxx) so the cut falls between characters.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** `bytes` rounded up to a multiple of 4. */
function padded(bytes: number): number {
  return (bytes + 3) & ~3;
}
