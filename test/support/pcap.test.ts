/**
 * The pcap writer the SIPp RTP tests play from: headers read back field by field, packet counts,
 * sizes, timing, RTP numbering, checksums, and the audio and DTMF the packets carry.
 */
import { describe, expect, it } from 'vitest';
import { decodeG711 } from '../../src/media/rtp/g711.js';
import {
  ETHERNET_BYTES,
  GLOBAL_HEADER_BYTES,
  internetChecksum,
  IPV4_BYTES,
  LINKTYPE_ETHERNET,
  PCAP_MAGIC,
  pcapWithDtmf,
  pcmuTonePcap,
  readPcap,
  RECORD_HEADER_BYTES,
  RTP_HEADER_BYTES,
  UDP_BYTES,
  udpFrame,
} from './pcap.js';
import { toneLevel } from './tone.js';

const FRAME_BYTES = ETHERNET_BYTES + IPV4_BYTES + UDP_BYTES + RTP_HEADER_BYTES + 160;

describe('pcap writer', () => {
  it('writes a classic little-endian microsecond Ethernet pcap of PCMU packets, 160 bytes every 20 ms', () => {
    const file = pcmuTonePcap({ seconds: 2, frequency: 1000, ssrc: 0x11223344, firstSequence: 65530, firstTimestamp: 0xffffff00, startSeconds: 1000 });
    // Global header, raw.
    expect(file.readUInt32LE(0)).toBe(PCAP_MAGIC);
    expect([...file.subarray(0, 4)]).toEqual([0xd4, 0xc3, 0xb2, 0xa1]);
    const pcap = readPcap(file);
    expect(pcap).toMatchObject({ versionMajor: 2, versionMinor: 4, snaplen: 65535, linkType: LINKTYPE_ETHERNET });
    expect(pcap.packets).toHaveLength(100);
    expect(file.length).toBe(GLOBAL_HEADER_BYTES + 100 * (RECORD_HEADER_BYTES + FRAME_BYTES));

    pcap.packets.forEach((p, i) => {
      expect(p.capturedLength).toBe(FRAME_BYTES);
      expect(p.originalLength).toBe(FRAME_BYTES);
      expect(p.timeUs).toBe(1000e6 + i * 20_000);
      expect(p.ip).toMatchObject({ protocol: 17, totalLength: FRAME_BYTES - ETHERNET_BYTES, src: '10.0.0.1', dst: '10.0.0.2', headerChecksumValid: true });
      expect(p.udp).toMatchObject({ srcPort: 40000, dstPort: 50000, length: UDP_BYTES + RTP_HEADER_BYTES + 160, checksumValid: true });
      expect(p.udp!.checksum).not.toBe(0);
      expect(p.rtp).toMatchObject({
        payloadType: 0,
        marker: i === 0,
        ssrc: 0x11223344,
        sequenceNumber: (65530 + i) & 0xffff,
        timestamp: (0xffffff00 + 160 * i) >>> 0,
      });
      expect(p.rtp!.payload).toHaveLength(160);
    });
  });

  it('carries the tone it was asked for, continuous across packets', () => {
    const pcap = readPcap(pcmuTonePcap({ seconds: 1, frequency: 1000, amplitude: 8000 }));
    const pcm = decodeG711('PCMU', Buffer.concat(pcap.packets.map((p) => p.rtp!.payload)));
    expect(pcm).toHaveLength(8000);
    // µ-law keeps a sine within a few percent; a phase jump at packet edges would smear it.
    expect(toneLevel(pcm, 1000, 8000)).toBeGreaterThan(7600);
    expect(toneLevel(pcm, 440, 8000)).toBeLessThan(100);
    const other = readPcap(pcmuTonePcap({ seconds: 0.5, frequency: 440 }));
    expect(other.packets).toHaveLength(25);
    expect(toneLevel(decodeG711('PCMU', Buffer.concat(other.packets.map((p) => p.rtp!.payload))), 440, 8000)).toBeGreaterThan(7600);
  });

  it('computes IPv4 and UDP checksums that verify, and the RFC 1071 example', () => {
    // RFC 1071's worked example: words 0001 f203 f4f5 f6f7 sum to ddf2 (with carries), checksum 220d.
    expect(internetChecksum(Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0x220d);
    const frame = udpFrame({ ip: '192.168.1.10', port: 5004 }, { ip: '172.16.0.9', port: 6000 }, Buffer.from('odd'), 7);
    expect(frame).toHaveLength(ETHERNET_BYTES + IPV4_BYTES + UDP_BYTES + 3);
    expect(internetChecksum(frame.subarray(ETHERNET_BYTES, ETHERNET_BYTES + IPV4_BYTES))).toBe(0);
    expect(frame.readUInt16BE(ETHERNET_BYTES + 4)).toBe(7);
  });

  it('writes a DTMF key as RFC 4733 events between PCMU: marker first, growing duration, three end packets', () => {
    const file = pcapWithDtmf({
      digit: '#',
      payloadType: 101,
      leadInMs: 100,
      durationMs: 100,
      tailMs: 60,
      volume: 10,
      ssrc: 7,
      firstSequence: 1,
      firstTimestamp: 8000,
    });
    const packets = readPcap(file).packets.map((p) => p.rtp!);
    // 5 lead-in; the key's 5 packets of time as 4 events and 3 copies of the end; 3 tail.
    expect(packets).toHaveLength(5 + 4 + 3 + 3);
    expect(packets.map((p) => p.sequenceNumber)).toEqual(packets.map((_, i) => 1 + i));
    expect(new Set(packets.map((p) => p.ssrc))).toEqual(new Set([7]));

    const lead = packets.slice(0, 5);
    expect(lead.map((p) => p.payloadType)).toEqual([0, 0, 0, 0, 0]);
    expect(lead.map((p) => p.timestamp)).toEqual([8000, 8160, 8320, 8480, 8640]);
    expect([...lead[1]!.payload].every((b) => b === 0xff)).toBe(true);

    const events = packets.slice(5, 12);
    for (const e of events) {
      expect(e.payloadType).toBe(101);
      expect(e.timestamp).toBe(8800);
      expect(e.payload).toHaveLength(4);
      expect(e.payload[0]).toBe(11); // '#'
      expect(e.payload[1]! & 0x3f).toBe(10);
      expect(e.payload[1]! & 0x40).toBe(0); // R bit
    }
    expect(events.map((e) => e.marker)).toEqual([true, false, false, false, false, false, false]);
    expect(events.map((e) => (e.payload[1]! & 0x80) !== 0)).toEqual([false, false, false, false, true, true, true]);
    expect(events.map((e) => e.payload.readUInt16BE(2))).toEqual([160, 320, 480, 640, 800, 800, 800]);

    const tail = packets.slice(12);
    expect(tail.map((p) => p.payloadType)).toEqual([0, 0, 0]);
    expect(tail[0]!.marker).toBe(true);
    // The audio resumes where the key's 800 clock units end.
    expect(tail.map((p) => p.timestamp)).toEqual([9600, 9760, 9920]);
    expect(() => pcapWithDtmf({ digit: 'x' })).toThrow(RangeError);
  });
});
