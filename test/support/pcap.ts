/**
 * Classic libpcap capture files of RTP, written from scratch, for SIPp's `play_pcap_audio`: each
 * packet an Ethernet II frame holding IPv4, UDP and RTP. SIPp keeps only the UDP part (it rewrites
 * the addresses and ports to the call's, and the UDP checksum) and replays packets as far apart as
 * their capture timestamps, so what matters here is the RTP and the 20 ms spacing; the headers
 * around it are still correct (IPv4 and UDP checksums included), so Wireshark reads the file too.
 *
 * - `pcmuTonePcap`: N seconds of a sine as PCMU, payload type 0, 160 bytes per 20 ms packet.
 * - `pcapWithDtmf`: PCMU (silence or a tone) with one DTMF key as RFC 4733 telephone-events in it.
 * - `readPcap`: the reverse, for tests of the files (and of anything else that writes pcap).
 */
import { randomInt } from 'node:crypto';
import { encodeG711 } from '../../src/media/rtp/g711.js';
import { sine } from './tone.js';

/** Magic number of a classic pcap file with microsecond timestamps. */
export const PCAP_MAGIC = 0xa1b2c3d4;
/** LINKTYPE_ETHERNET. */
export const LINKTYPE_ETHERNET = 1;
export const GLOBAL_HEADER_BYTES = 24;
export const RECORD_HEADER_BYTES = 16;
export const ETHERNET_BYTES = 14;
export const IPV4_BYTES = 20;
export const UDP_BYTES = 8;
export const RTP_HEADER_BYTES = 12;

const CLOCK_RATE = 8000;
const PACKET_MS = 20;
const SAMPLES_PER_PACKET = (CLOCK_RATE * PACKET_MS) / 1000; // 160
/** µ-law of a zero sample (0xFF): digital silence. */
const ULAW_SILENCE = 0xff;
const DTMF_KEYS = '0123456789*#ABCD';

/** One side of a UDP flow. */
export interface Endpoint {
  ip: string;
  port: number;
}

/** Addresses and ports written into the file; SIPp replaces them with the call's. */
export interface FlowOptions {
  from?: Endpoint;
  to?: Endpoint;
}

const DEFAULT_FROM: Endpoint = { ip: '10.0.0.1', port: 40000 };
const DEFAULT_TO: Endpoint = { ip: '10.0.0.2', port: 50000 };

/** RTP stream identity; random per file when absent, as a real sender's would be. */
export interface StreamOptions {
  ssrc?: number;
  firstSequence?: number;
  firstTimestamp?: number;
  /** Capture time of the first packet, in seconds since the epoch (1 700 000 000 by default). */
  startSeconds?: number;
}

export interface RtpFields {
  payloadType: number;
  marker?: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  payload: Uint8Array;
}

/** One packet of a capture: its timestamp and the link-layer frame. */
export interface PcapRecord {
  /** Capture time in microseconds since the epoch. */
  timeUs: number;
  frame: Buffer;
}

/** An RTP packet: version 2, no padding, extension or CSRCs. */
export function rtpPacket(fields: RtpFields): Buffer {
  const packet = Buffer.alloc(RTP_HEADER_BYTES + fields.payload.length);
  packet[0] = 0x80;
  packet[1] = (fields.marker ? 0x80 : 0) | (fields.payloadType & 0x7f);
  packet.writeUInt16BE(fields.sequenceNumber & 0xffff, 2);
  packet.writeUInt32BE(fields.timestamp >>> 0, 4);
  packet.writeUInt32BE(fields.ssrc >>> 0, 8);
  packet.set(fields.payload, RTP_HEADER_BYTES);
  return packet;
}

/** The Internet checksum (RFC 1071) of `data`: the ones' complement of the ones' complement sum of its 16-bit words. */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < data.length; i += 2) sum += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  if (data.length % 2 === 1) sum += (data[data.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Bytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new RangeError(`not an IPv4 address: ${ip}`);
  return Buffer.from(parts);
}

/** An Ethernet II frame carrying IPv4 and UDP around `payload`, both checksums filled in. */
export function udpFrame(from: Endpoint, to: Endpoint, payload: Uint8Array, ipId = 0): Buffer {
  const udpLength = UDP_BYTES + payload.length;
  const frame = Buffer.alloc(ETHERNET_BYTES + IPV4_BYTES + udpLength);
  // Ethernet: locally administered unicast MACs, EtherType IPv4.
  Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(frame, 0);
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(frame, 6);
  frame.writeUInt16BE(0x0800, 12);

  const ip = frame.subarray(ETHERNET_BYTES, ETHERNET_BYTES + IPV4_BYTES);
  ip[0] = 0x45; // version 4, 5 words of header
  ip[1] = 0xb8; // DSCP EF, as voice is marked
  ip.writeUInt16BE(IPV4_BYTES + udpLength, 2);
  ip.writeUInt16BE(ipId & 0xffff, 4);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = 64; // TTL
  ip[9] = 17; // UDP
  const src = ipv4Bytes(from.ip);
  const dst = ipv4Bytes(to.ip);
  src.copy(ip, 12);
  dst.copy(ip, 16);
  ip.writeUInt16BE(internetChecksum(ip), 10);

  const udp = frame.subarray(ETHERNET_BYTES + IPV4_BYTES);
  udp.writeUInt16BE(from.port, 0);
  udp.writeUInt16BE(to.port, 2);
  udp.writeUInt16BE(udpLength, 4);
  udp.set(payload, UDP_BYTES);
  // The pseudo-header (addresses, protocol, length) is summed in before the datagram itself.
  const pseudo = Buffer.alloc(12);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 4);
  pseudo[9] = 17;
  pseudo.writeUInt16BE(udpLength, 10);
  const partial = ~internetChecksum(pseudo) & 0xffff;
  const checksum = internetChecksum(udp, partial);
  // 0 means "no checksum" in UDP over IPv4, so a computed 0 is sent as its other form, 0xFFFF.
  udp.writeUInt16BE(checksum === 0 ? 0xffff : checksum, 6);
  return frame;
}

/** A classic pcap file (little-endian, microseconds, Ethernet) holding `records` in order. */
export function writePcap(records: readonly PcapRecord[], snaplen = 65535): Buffer {
  const size = GLOBAL_HEADER_BYTES + records.reduce((n, r) => n + RECORD_HEADER_BYTES + r.frame.length, 0);
  const out = Buffer.alloc(size);
  out.writeUInt32LE(PCAP_MAGIC, 0);
  out.writeUInt16LE(2, 4); // version 2.4
  out.writeUInt16LE(4, 6);
  out.writeInt32LE(0, 8); // thiszone: UTC
  out.writeUInt32LE(0, 12); // sigfigs
  out.writeUInt32LE(snaplen, 16);
  out.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  let at = GLOBAL_HEADER_BYTES;
  for (const { timeUs, frame } of records) {
    if (frame.length > snaplen) throw new RangeError(`frame of ${frame.length} bytes exceeds snaplen ${snaplen}`);
    out.writeUInt32LE(Math.floor(timeUs / 1e6), at);
    out.writeUInt32LE(Math.round(timeUs % 1e6), at + 4);
    // Captured whole: SIPp refuses truncated packets.
    out.writeUInt32LE(frame.length, at + 8);
    out.writeUInt32LE(frame.length, at + 12);
    frame.copy(out, at + RECORD_HEADER_BYTES);
    at += RECORD_HEADER_BYTES + frame.length;
  }
  return out;
}

/** Builds RTP packets on one stream: sequence numbers and capture times advance per packet. */
class StreamWriter {
  readonly records: PcapRecord[] = [];
  readonly ssrc: number;
  private sequence: number;
  private timeUs: number;
  private ipId = 1;

  constructor(
    stream: StreamOptions,
    private readonly flow: Required<FlowOptions>,
  ) {
    this.ssrc = stream.ssrc ?? randomInt(0x1_0000_0000);
    this.sequence = stream.firstSequence ?? randomInt(0x1_0000);
    this.timeUs = (stream.startSeconds ?? 1_700_000_000) * 1e6;
  }

  /** Adds a packet captured 20 ms after the previous one. */
  add(payloadType: number, timestamp: number, marker: boolean, payload: Uint8Array): void {
    const rtp = rtpPacket({ payloadType, marker, sequenceNumber: this.sequence, timestamp, ssrc: this.ssrc, payload });
    this.records.push({ timeUs: this.timeUs, frame: udpFrame(this.flow.from, this.flow.to, rtp, this.ipId++) });
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timeUs += PACKET_MS * 1000;
  }
}

export interface TonePcapOptions extends FlowOptions, StreamOptions {
  /** Hz; 1000 by default. */
  frequency?: number;
  /** Length in seconds (whole 20 ms packets); 5 by default. */
  seconds?: number;
  /** Peak, in 16-bit sample units; 8000 by default (what the WebRTC test peers send). */
  amplitude?: number;
}

/** A pcap of `seconds` of a sine as PCMU (payload type 0), 160 bytes every 20 ms, one RTP stream. */
export function pcmuTonePcap(options: TonePcapOptions = {}): Buffer {
  const packets = Math.round(((options.seconds ?? 5) * 1000) / PACKET_MS);
  const pcm = sine(options.frequency ?? 1000, options.amplitude ?? 8000, packets * SAMPLES_PER_PACKET, CLOCK_RATE);
  const ulaw = encodeG711('PCMU', pcm);
  const writer = new StreamWriter(options, { from: options.from ?? DEFAULT_FROM, to: options.to ?? DEFAULT_TO });
  let timestamp = options.firstTimestamp ?? randomInt(0x1_0000_0000);
  for (let i = 0; i < packets; i++) {
    const payload = ulaw.subarray(i * SAMPLES_PER_PACKET, (i + 1) * SAMPLES_PER_PACKET);
    writer.add(0, timestamp, i === 0, payload);
    timestamp = (timestamp + SAMPLES_PER_PACKET) >>> 0;
  }
  return writePcap(writer.records);
}

export interface DtmfPcapOptions extends FlowOptions, StreamOptions {
  /** The key: 0-9, *, #, A-D. */
  digit: string;
  /** telephone-event payload type; 101 by default. */
  payloadType?: number;
  /** PCMU before and after the key, in ms (whole packets); 200 each by default. */
  leadInMs?: number;
  tailMs?: number;
  /** Length of the key press, in ms (whole packets); 100 by default. */
  durationMs?: number;
  /** Power level of the tone, −dBm0 (0-63); 10 by default. */
  volume?: number;
  /** A tone under the PCMU around the key (Hz); silence when absent. */
  backgroundFrequency?: number;
}

/**
 * A pcap of PCMU with one DTMF key as RFC 4733 telephone-events: a packet every 20 ms sharing the
 * RTP timestamp of the key's start, the first with the marker bit, each carrying the duration so
 * far; the last, with the E bit and the final duration, three times (each with its own sequence
 * number). The audio around it keeps the same clock: it resumes where the key's time ends.
 */
export function pcapWithDtmf(options: DtmfPcapOptions): Buffer {
  const event = DTMF_KEYS.indexOf(options.digit.toUpperCase());
  if (options.digit.length !== 1 || event < 0) throw new RangeError(`not a DTMF key: ${JSON.stringify(options.digit)}`);
  const payloadType = options.payloadType ?? 101;
  const volume = options.volume ?? 10;
  const leadPackets = Math.round((options.leadInMs ?? 200) / PACKET_MS);
  const tailPackets = Math.round((options.tailMs ?? 200) / PACKET_MS);
  const eventPackets = Math.max(1, Math.round((options.durationMs ?? 100) / PACKET_MS));
  const writer = new StreamWriter(options, { from: options.from ?? DEFAULT_FROM, to: options.to ?? DEFAULT_TO });
  let timestamp = options.firstTimestamp ?? randomInt(0x1_0000_0000);

  const background = options.backgroundFrequency;
  let sampleIndex = 0;
  const audio = (first: boolean): void => {
    const payload =
      background === undefined
        ? Buffer.alloc(SAMPLES_PER_PACKET, ULAW_SILENCE)
        : encodeG711('PCMU', sine(background, 8000, SAMPLES_PER_PACKET, CLOCK_RATE, (2 * Math.PI * background * sampleIndex) / CLOCK_RATE));
    writer.add(0, timestamp, first, payload);
    timestamp = (timestamp + SAMPLES_PER_PACKET) >>> 0;
    sampleIndex += SAMPLES_PER_PACKET;
  };

  for (let i = 0; i < leadPackets; i++) audio(i === 0);
  const eventTimestamp = timestamp;
  const telephoneEvent = (end: boolean, duration: number): Buffer => {
    const payload = Buffer.alloc(4);
    payload[0] = event;
    payload[1] = (end ? 0x80 : 0) | (volume & 0x3f);
    payload.writeUInt16BE(duration, 2);
    return payload;
  };
  for (let i = 1; i <= eventPackets; i++) {
    const duration = i * SAMPLES_PER_PACKET;
    if (i < eventPackets) writer.add(payloadType, eventTimestamp, i === 1, telephoneEvent(false, duration));
    else for (let copy = 0; copy < 3; copy++) writer.add(payloadType, eventTimestamp, i === 1 && copy === 0, telephoneEvent(true, duration));
  }
  // The key took eventPackets × 160 of the clock; the audio picks up after it, as a new talkspurt.
  timestamp = (eventTimestamp + eventPackets * SAMPLES_PER_PACKET) >>> 0;
  sampleIndex += eventPackets * SAMPLES_PER_PACKET;
  for (let i = 0; i < tailPackets; i++) audio(i === 0);
  return writePcap(writer.records);
}

/** A parsed pcap file. */
export interface ParsedPcap {
  magic: number;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linkType: number;
  packets: ParsedPacket[];
}

export interface ParsedPacket {
  timeUs: number;
  capturedLength: number;
  originalLength: number;
  frame: Buffer;
  /** The IPv4 header's fields, when the frame is Ethernet + IPv4. */
  ip?: { totalLength: number; protocol: number; src: string; dst: string; headerChecksumValid: boolean };
  /** `checksumValid`: the checksum is absent (0) or sums the pseudo-header and datagram to 0xFFFF. */
  udp?: { srcPort: number; dstPort: number; length: number; checksum: number; checksumValid: boolean; payload: Buffer };
  rtp?: { payloadType: number; marker: boolean; sequenceNumber: number; timestamp: number; ssrc: number; payload: Buffer };
}

/** Reads a classic little-endian microsecond pcap (the kind `writePcap` writes). */
export function readPcap(file: Buffer): ParsedPcap {
  if (file.length < GLOBAL_HEADER_BYTES) throw new Error('shorter than a pcap global header');
  const magic = file.readUInt32LE(0);
  if (magic !== PCAP_MAGIC) throw new Error(`unexpected magic 0x${magic.toString(16)}`);
  const parsed: ParsedPcap = {
    magic,
    versionMajor: file.readUInt16LE(4),
    versionMinor: file.readUInt16LE(6),
    snaplen: file.readUInt32LE(16),
    linkType: file.readUInt32LE(20),
    packets: [],
  };
  let at = GLOBAL_HEADER_BYTES;
  while (at < file.length) {
    if (at + RECORD_HEADER_BYTES > file.length) throw new Error(`truncated record header at ${at}`);
    const capturedLength = file.readUInt32LE(at + 8);
    const frame = file.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + capturedLength);
    if (frame.length !== capturedLength) throw new Error(`truncated record at ${at}`);
    const packet: ParsedPacket = {
      timeUs: file.readUInt32LE(at) * 1e6 + file.readUInt32LE(at + 4),
      capturedLength,
      originalLength: file.readUInt32LE(at + 12),
      frame,
    };
    parseFrame(frame, packet);
    parsed.packets.push(packet);
    at += RECORD_HEADER_BYTES + capturedLength;
  }
  return parsed;
}

function parseFrame(frame: Buffer, packet: ParsedPacket): void {
  if (frame.length < ETHERNET_BYTES + IPV4_BYTES || frame.readUInt16BE(12) !== 0x0800) return;
  const ip = frame.subarray(ETHERNET_BYTES);
  const headerBytes = ((ip[0] ?? 0) & 0x0f) * 4;
  const dotted = (b: Buffer): string => [...b].join('.');
  packet.ip = {
    totalLength: ip.readUInt16BE(2),
    protocol: ip[9] ?? 0,
    src: dotted(ip.subarray(12, 16)),
    dst: dotted(ip.subarray(16, 20)),
    headerChecksumValid: internetChecksum(ip.subarray(0, headerBytes)) === 0,
  };
  if (packet.ip.protocol !== 17) return;
  const udp = ip.subarray(headerBytes);
  const length = udp.readUInt16BE(4);
  const checksum = udp.readUInt16BE(6);
  const pseudo = Buffer.alloc(12);
  ip.copy(pseudo, 0, 12, 20);
  pseudo[9] = 17;
  pseudo.writeUInt16BE(length, 10);
  const checksumValid = checksum === 0 || internetChecksum(udp.subarray(0, length), ~internetChecksum(pseudo) & 0xffff) === 0;
  packet.udp = { srcPort: udp.readUInt16BE(0), dstPort: udp.readUInt16BE(2), length, checksum, checksumValid, payload: udp.subarray(UDP_BYTES, length) };
  const rtp = packet.udp.payload;
  if (rtp.length < RTP_HEADER_BYTES || (rtp[0] ?? 0) >> 6 !== 2) return;
  packet.rtp = {
    payloadType: (rtp[1] ?? 0) & 0x7f,
    marker: ((rtp[1] ?? 0) & 0x80) !== 0,
    sequenceNumber: rtp.readUInt16BE(2),
    timestamp: rtp.readUInt32BE(4),
    ssrc: rtp.readUInt32BE(8),
    payload: rtp.subarray(RTP_HEADER_BYTES + ((rtp[0] ?? 0) & 0x0f) * 4),
  };
}

export interface SamplesPcapOptions extends FlowOptions, StreamOptions {
  /** 8 kHz 16-bit samples; the last packet is padded with silence to 160 samples. */
  samples: ArrayLike<number>;
}

/** A pcap of arbitrary 8 kHz audio as PCMU (payload type 0), 160 bytes every 20 ms, one RTP stream. */
export function pcmuSamplesPcap(options: SamplesPcapOptions): Buffer {
  const packets = Math.ceil(options.samples.length / SAMPLES_PER_PACKET);
  const pcm = new Int16Array(packets * SAMPLES_PER_PACKET);
  for (let i = 0; i < options.samples.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(options.samples[i] ?? 0)));
  const ulaw = encodeG711('PCMU', pcm);
  const writer = new StreamWriter(options, { from: options.from ?? DEFAULT_FROM, to: options.to ?? DEFAULT_TO });
  let timestamp = options.firstTimestamp ?? randomInt(0x1_0000_0000);
  for (let i = 0; i < packets; i++) {
    writer.add(0, timestamp, i === 0, ulaw.subarray(i * SAMPLES_PER_PACKET, (i + 1) * SAMPLES_PER_PACKET));
    timestamp = (timestamp + SAMPLES_PER_PACKET) >>> 0;
  }
  return writePcap(writer.records);
}

/** 8 kHz samples of one DTMF key: its two tones (each `amplitude` peak) for `toneMs`, then `silenceMs` of silence, after `leadMs` of silence. */
export function dtmfToneSamples(digit: string, options: { toneMs?: number; silenceMs?: number; leadMs?: number; amplitude?: number } = {}): Int16Array {
  const rows = [697, 770, 852, 941];
  const columns = [1209, 1336, 1477, 1633];
  const keypad = ['123A', '456B', '789C', '*0#D'];
  const row = keypad.findIndex((r) => r.includes(digit.toUpperCase()));
  if (digit.length !== 1 || row < 0) throw new RangeError(`not a DTMF key: ${JSON.stringify(digit)}`);
  const low = rows[row] ?? 0;
  const high = columns[keypad[row]?.indexOf(digit.toUpperCase()) ?? 0] ?? 0;
  const ms = (n: number): number => Math.round((n * CLOCK_RATE) / 1000);
  const lead = ms(options.leadMs ?? 200);
  const tone = ms(options.toneMs ?? 150);
  const out = new Int16Array(lead + tone + ms(options.silenceMs ?? 600));
  const amplitude = options.amplitude ?? 6000;
  for (let i = 0; i < tone; i++) {
    const t = i / CLOCK_RATE;
    out[lead + i] = Math.round(amplitude * (Math.sin(2 * Math.PI * low * t) + Math.sin(2 * Math.PI * high * t)));
  }
  return out;
}
