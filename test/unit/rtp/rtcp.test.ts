import { describe, expect, it } from 'vitest';
import { buildBye, buildCompound, compactNtp, ntpFromEpochMs, parseCompound, type ReportBlock, type SenderInfo } from '../../../src/media/rtp/rtcp.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

const SENDER: SenderInfo = { ntpSeconds: 0xe8f1_2345, ntpFraction: 0x8000_0001, rtpTimestamp: 0xffff_ff00, packetCount: 1234, octetCount: 197_440 };
const BLOCKS: ReportBlock[] = [
  {
    ssrc: 0x1122_3344,
    fractionLost: 12,
    cumulativeLost: 5,
    extendedHighestSequence: 0x0001_fff0,
    jitter: 42,
    lastSenderReport: 0xa1b2_c3d4,
    delaySinceLastSenderReport: 98_304,
  },
  { ssrc: 0xffff_ffff, fractionLost: 255, cumulativeLost: -3, extendedHighestSequence: 7, jitter: 0, lastSenderReport: 0, delaySinceLastSenderReport: 0 },
];

/** A small deterministic PRNG (mulberry32), so a failing random case can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

describe('buildCompound and parseCompound', () => {
  it('parses a built SR back to the same fields, with the CNAME from its SDES', () => {
    const packet = buildCompound({ ssrc: 0xcafe_babe, sender: SENDER, blocks: BLOCKS, cname: 'legway-30000@10.0.0.1' });
    // SR: 4 header + 24 (SSRC, sender info) + 2 × 24 blocks; SDES: 4 + 4 + 2 + 21 + 1 null, padded to 32.
    expect(packet.length).toBe(76 + 32);
    expect(packet.readUInt8(1)).toBe(200);
    expect(parseCompound(packet)).toEqual({
      senderReports: [{ ssrc: 0xcafe_babe, sender: SENDER, blocks: BLOCKS }],
      receiverReports: [],
      cnames: new Map([[0xcafe_babe, 'legway-30000@10.0.0.1']]),
      byes: [],
    });
  });

  it('builds an RR, with or without blocks, when there is no sender info', () => {
    const empty = buildCompound({ ssrc: 7, blocks: [], cname: 'a' });
    expect(empty.subarray(0, 8)).toEqual(hex('80c9 0001 00000007'));
    expect(parseCompound(empty)).toEqual({ senderReports: [], receiverReports: [{ ssrc: 7, blocks: [] }], cnames: new Map([[7, 'a']]), byes: [] });
    expect(parseCompound(buildCompound({ ssrc: 7, blocks: BLOCKS, cname: 'a' }))?.receiverReports).toEqual([{ ssrc: 7, blocks: BLOCKS }]);
  });

  it('puts blocks beyond 31 into further RR packets', () => {
    const many = Array.from({ length: 40 }, (_, i): ReportBlock => ({ ...BLOCKS[0]!, ssrc: i + 1 }));
    const parsed = parseCompound(buildCompound({ ssrc: 9, sender: SENDER, blocks: many, cname: 'x' }))!;
    expect(parsed.senderReports[0]!.blocks.map((b) => b.ssrc)).toEqual(many.slice(0, 31).map((b) => b.ssrc));
    expect(parsed.receiverReports).toEqual([{ ssrc: 9, blocks: many.slice(31) }]);
  });

  it('clamps out-of-range block fields instead of throwing', () => {
    const block: ReportBlock = { ...BLOCKS[0]!, fractionLost: 300, cumulativeLost: 20_000_000 };
    const parsed = parseCompound(buildCompound({ ssrc: 1, blocks: [block], cname: 'x' }))!;
    expect(parsed.receiverReports[0]!.blocks[0]).toMatchObject({ fractionLost: 255, cumulativeLost: 0x7fffff });
    const negative = parseCompound(buildCompound({ ssrc: 1, blocks: [{ ...block, cumulativeLost: -20_000_000 }], cname: 'x' }))!;
    expect(negative.receiverReports[0]!.blocks[0]!.cumulativeLost).toBe(-0x800000);
  });

  it('cuts a CNAME to 255 bytes without splitting a character', () => {
    const cname = 'é'.repeat(200); // 400 bytes of UTF-8
    const parsed = parseCompound(buildCompound({ ssrc: 1, blocks: [], cname }))!;
    expect(parsed.cnames.get(1)).toBe('é'.repeat(127));
  });

  it('reads a BYE appended to a report, with and without a reason', () => {
    const report = buildCompound({ ssrc: 5, blocks: [], cname: 'x' });
    expect(buildBye(5)).toEqual(hex('81cb0001 00000005'));
    // Reason: length octet + 6 bytes, padded to 8.
    expect(buildBye(5, 'hangup')).toEqual(hex('81cb0003 00000005 06 68616e677570 00'));
    expect(parseCompound(Buffer.concat([report, buildBye(5, 'hangup')]))?.byes).toEqual([5]);
    // A BYE alone is no compound packet: it must follow a report.
    expect(parseCompound(buildBye(5))).toBeUndefined();
  });

  it('parses a real-world-shaped RR with two blocks, an SDES and an APP packet to skip', () => {
    const cname = Buffer.from('phone@10.0.0.7').toString('hex'); // 14 bytes
    const datagram = hex(`
      82c9000d deadbeef
        11223344 0c000005 0001fff0 0000002a a1b2c3d4 00018000
        55667788 00ffffff 00001234 00000000 00000000 00000000
      81ca0006 deadbeef 010e ${cname} 00 000000
      80cc0002 deadbeef 41424344`);
    expect(parseCompound(datagram)).toEqual({
      senderReports: [],
      receiverReports: [
        {
          ssrc: 0xdeadbeef,
          blocks: [
            {
              ssrc: 0x11223344,
              fractionLost: 12,
              cumulativeLost: 5,
              extendedHighestSequence: 131_056,
              jitter: 42,
              lastSenderReport: 0xa1b2c3d4,
              delaySinceLastSenderReport: 98_304,
            },
            {
              ssrc: 0x55667788,
              fractionLost: 0,
              cumulativeLost: -1,
              extendedHighestSequence: 0x1234,
              jitter: 0,
              lastSenderReport: 0,
              delaySinceLastSenderReport: 0,
            },
          ],
        },
      ],
      cnames: new Map([[0xdeadbeef, 'phone@10.0.0.7']]),
      byes: [],
    });
  });

  it('accepts padding on the last packet only', () => {
    const rr = hex('80c90001 00000001');
    const paddedSdes = hex('a1ca0003 00000001 0101 61 00 00000004');
    expect(parseCompound(Buffer.concat([rr, paddedSdes]))?.cnames).toEqual(new Map([[1, 'a']]));
    const paddedRr = hex('a0c90002 00000001 00000004');
    expect(parseCompound(paddedRr)?.receiverReports).toEqual([{ ssrc: 1, blocks: [] }]);
    expect(parseCompound(Buffer.concat([paddedRr, hex('81ca0002 00000001 00000000')]))).toBeUndefined();
    // A zero padding count, and one reaching into the header.
    expect(parseCompound(hex('a0c90002 00000001 00000000'))).toBeUndefined();
    expect(parseCompound(hex('a0c90002 00000001 0000000d'))).toBeUndefined();
  });

  it('rejects what RFC 3550 A.2 rejects', () => {
    const rr = hex('80c90001 00000001');
    expect(parseCompound(Buffer.alloc(0))).toBeUndefined();
    expect(parseCompound(hex('40c90001 00000001'))).toBeUndefined(); // version 1
    expect(parseCompound(hex('81ca0002 00000001 00000000'))).toBeUndefined(); // SDES first
    expect(parseCompound(hex('80c90002 00000001'))).toBeUndefined(); // length beyond the datagram
    expect(parseCompound(hex('80c90000 00000001'))).toBeUndefined(); // length short of it: what follows is no packet
    expect(parseCompound(Buffer.concat([rr, hex('00')]))).toBeUndefined(); // not whole words
    expect(parseCompound(Buffer.concat([rr, hex('40ca0000')]))).toBeUndefined(); // a later packet of version 1
    expect(parseCompound(hex('9fc90001 00000001'))).toBeUndefined(); // 31 blocks claimed, none there
    expect(parseCompound(hex('81c80001 00000001'))).toBeUndefined(); // SR without its sender info
    expect(parseCompound(Buffer.concat([rr, hex('9fcb0000')]))).toBeUndefined(); // BYE claiming 31 SSRCs
  });

  it('keeps the reports when an SDES chunk runs past its packet', () => {
    const datagram = hex('80c90001 00000001 81ca0002 00000001 01ff6162');
    expect(parseCompound(datagram)).toEqual({ senderReports: [], receiverReports: [{ ssrc: 1, blocks: [] }], cnames: new Map(), byes: [] });
  });

  it('returns undefined for every truncation, except at a packet boundary, where the prefix is itself a compound', () => {
    const sr = buildCompound({ ssrc: 0xcafe_babe, sender: SENDER, blocks: BLOCKS, cname: 'legway' }).subarray(0, 76);
    const full = Buffer.concat([buildCompound({ ssrc: 0xcafe_babe, sender: SENDER, blocks: BLOCKS, cname: 'legway' }), buildBye(0xcafe_babe, 'bye')]);
    const sdesEnd = 76 + 20;
    for (let length = 0; length < full.length; length++) {
      const parsed = parseCompound(full.subarray(0, length));
      if (length === 76) expect(parsed).toEqual(parseCompound(sr));
      else if (length === sdesEnd) expect(parsed?.cnames.get(0xcafe_babe)).toBe('legway');
      else expect(parsed, `length ${length}`).toBeUndefined();
    }
    expect(parseCompound(full)?.byes).toEqual([0xcafe_babe]);
  });

  it('never throws, whatever the length field says', () => {
    const full = buildCompound({ ssrc: 1, sender: SENDER, blocks: BLOCKS, cname: 'legway' });
    const copy = Buffer.from(full);
    for (let length = 0; length <= 0xffff; length++) {
      copy.writeUInt16BE(length, 2);
      const parsed = parseCompound(copy);
      if (length === full.readUInt16BE(2)) expect(parsed).toBeDefined();
      else if (parsed !== undefined) expect(parsed.senderReports.length + parsed.receiverReports.length).toBeGreaterThan(0);
    }
  });

  it('never throws on random bytes or on a valid compound with random damage', () => {
    const next = random(3550);
    const valid = Buffer.concat([buildCompound({ ssrc: 1, sender: SENDER, blocks: BLOCKS, cname: 'legway' }), buildBye(1, 'gone')]);
    let parsedSome = 0;
    for (let i = 0; i < 20_000; i++) {
      let datagram: Buffer;
      if (i % 2 === 0) {
        datagram = Buffer.from(Array.from({ length: Math.floor(next() * 160) }, () => Math.floor(next() * 256)));
        // Give half of them a plausible first header, to get past the first checks.
        if (datagram.length >= 2 && next() < 0.5) {
          datagram[0] = 0x80 | (datagram[0]! & 0x3f);
          datagram[1] = next() < 0.5 ? 200 : 201;
        }
      } else {
        datagram = Buffer.from(valid);
        for (let flips = 1 + Math.floor(next() * 3); flips > 0; flips--) datagram[Math.floor(next() * datagram.length)] = Math.floor(next() * 256);
      }
      const parsed = parseCompound(datagram);
      if (parsed === undefined) continue;
      parsedSome++;
      for (const block of [...parsed.senderReports, ...parsed.receiverReports].flatMap((r) => r.blocks)) {
        expect(block.fractionLost).toBeLessThanOrEqual(255);
        expect(block.cumulativeLost).toBeGreaterThanOrEqual(-0x800000);
        expect(block.cumulativeLost).toBeLessThanOrEqual(0x7fffff);
      }
    }
    // The damaged compounds whose damage missed the headers still parse.
    expect(parsedSome).toBeGreaterThan(1000);
  });
});

describe('NTP helpers', () => {
  it('converts Unix ms to NTP seconds since 1900 and a 32-bit fraction', () => {
    expect(ntpFromEpochMs(0)).toEqual({ seconds: 2_208_988_800, fraction: 0 });
    expect(ntpFromEpochMs(1_700_000_000_500)).toEqual({ seconds: 3_908_988_800, fraction: 0x8000_0000 });
    expect(ntpFromEpochMs(1_250.25).fraction).toBe(Math.floor(0.25025 * 2 ** 32));
    // NTP era 1 begins in February 2036: the seconds wrap.
    expect(ntpFromEpochMs((2 ** 32 - 2_208_988_800 + 5) * 1000).seconds).toBe(5);
  });

  it('takes the middle 32 bits for the compact form', () => {
    expect(compactNtp(0x1234_5678, 0x9abc_def0)).toBe(0x5678_9abc);
    expect(compactNtp(0xffff_ffff, 0xffff_ffff)).toBe(0xffff_ffff);
  });
});
