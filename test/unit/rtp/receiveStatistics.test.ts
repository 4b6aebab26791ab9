import { describe, expect, it } from 'vitest';
import { ReceiveStatistics, roundTripMs } from '../../../src/media/rtp/receiveStatistics.js';
import type { ReportBlock } from '../../../src/media/rtp/rtcp.js';

const SSRC = 0x1234_5678;
/** 20 ms packets of 8 kHz audio. */
const PTIME_MS = 20;
const SAMPLES = 160;

/** Feeds packets `index` of a stream starting at `seq0`/`ts0`, each arriving at index × 20 ms plus its delay. */
function feed(
  stats: ReceiveStatistics,
  indexes: Iterable<number>,
  options: { ssrc?: number; seq0?: number; ts0?: number; delayMs?: (i: number) => number } = {},
): void {
  const { ssrc = SSRC, seq0 = 1000, ts0 = 5000, delayMs = () => 0 } = options;
  for (const i of indexes) stats.onPacket(ssrc, (seq0 + i) & 0xffff, (ts0 + i * SAMPLES) >>> 0, 1_700_000_000_000 + i * PTIME_MS + delayMs(i));
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('ReceiveStatistics: sequence and loss', () => {
  it('has no report block before any packet', () => {
    const stats = new ReceiveStatistics(8000);
    expect(stats.reportBlock(0)).toBeUndefined();
    expect(stats.ssrc).toBeUndefined();
    expect([stats.packets, stats.lost, stats.jitterMs]).toEqual([0, 0, 0]);
  });

  it('counts 5 lost of 100 as cumulative 5 and fraction 5/100 of 256, then a clean interval as 0', () => {
    const stats = new ReceiveStatistics(8000);
    const missing = new Set([3, 17, 18, 50, 98]);
    feed(
      stats,
      range(0, 100).filter((i) => !missing.has(i)),
    );
    expect(stats.reportBlock(0)).toMatchObject({ ssrc: SSRC, cumulativeLost: 5, fractionLost: Math.floor((5 / 100) * 256), extendedHighestSequence: 1099 });
    expect([stats.packets, stats.lost]).toEqual([95, 5]);
    feed(stats, range(100, 200));
    expect(stats.reportBlock(0)).toMatchObject({ cumulativeLost: 5, fractionLost: 0, extendedHighestSequence: 1199 });
  });

  it('does not count reordering or duplicates as loss', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, [0, 1, 3, 2, 4, 4, 7, 5, 6, 6, 8, 1, 9, 9]);
    expect(stats.reportBlock(0)).toMatchObject({ cumulativeLost: 0, fractionLost: 0, extendedHighestSequence: 1009 });
    expect([stats.packets, stats.lost, stats.duplicates]).toEqual([10, 0, 4]);
  });

  it('counts a packet older than the first one as received, not as loss', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, [2, 0, 1, 3], { seq0: 0 });
    expect(stats.reportBlock(0)).toMatchObject({ cumulativeLost: 0, extendedHighestSequence: 3 });
  });

  it('reports no loss for an interval whose late packets belong to the previous one', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, [0, 1, 2, 4]);
    expect(stats.reportBlock(0)).toMatchObject({ cumulativeLost: 1, fractionLost: Math.floor((1 / 5) * 256) });
    feed(stats, [3]);
    expect(stats.reportBlock(0)).toMatchObject({ cumulativeLost: 0, fractionLost: 0 });
  });

  it('counts wraps of the 16-bit sequence number in the extended highest sequence', () => {
    const stats = new ReceiveStatistics(8000);
    // 65500 … 65535, 0 … 63, with 65534 and 1 lost and 0 arriving after 2.
    feed(stats, [...range(0, 34), 35, 38, 36, ...range(39, 100)], { seq0: 65_500 });
    expect(stats.reportBlock(0)).toMatchObject({ cumulativeLost: 2, extendedHighestSequence: 0x1_0000 + 63 });
    feed(stats, range(100, 66_000), { seq0: 65_500 });
    expect(stats.reportBlock(0)).toMatchObject({ cumulativeLost: 2, extendedHighestSequence: 65_500 + 65_999 });
  });

  it('counts a gap short of MAX_DROPOUT as loss', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, [0, 2999]);
    expect(stats.reportBlock(0)).toMatchObject({ cumulativeLost: 2998 });
  });

  it('ignores one stray packet far off, and restarts when a second confirms the new sequence (A.1)', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, range(0, 10));
    feed(stats, [30_000]);
    feed(stats, [10, 11]);
    expect(stats.reportBlock(0)).toMatchObject({ cumulativeLost: 0, extendedHighestSequence: 1011 });
    // The far end restarts its sequence at 40000 without changing SSRC.
    feed(stats, [39_000, 39_001, 39_003]);
    expect(stats.reportBlock(0)).toMatchObject({ ssrc: SSRC, cumulativeLost: 1, extendedHighestSequence: 40_003 });
    // 12 counted before the restart (0 … 11), then 39001 and 39003; the unconfirmed 30000 and 39000 are not.
    expect([stats.packets, stats.lost]).toEqual([14, 1]);
  });

  it('restarts sequence tracking and jitter on a new SSRC, keeping the old loss in `lost`', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, [0, 1, 3, 4], { delayMs: (i) => (i % 2) * 10 });
    expect(stats.jitterMs).toBeGreaterThan(0);
    feed(stats, [10, 11, 12], { ssrc: 99, seq0: 40_000, ts0: 7 });
    expect(stats.ssrc).toBe(99);
    expect(stats.jitterMs).toBe(0);
    expect(stats.reportBlock(0)).toMatchObject({ ssrc: 99, cumulativeLost: 0, fractionLost: 0, extendedHighestSequence: 40_012 });
    expect([stats.packets, stats.lost]).toEqual([7, 1]);
  });

  it('counts packets without timing (telephone-events) for loss but not for jitter', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, range(0, 10));
    // An event's packets repeat its start timestamp while the sequence goes on.
    for (let i = 10; i < 20; i++) stats.onPacket(SSRC, 1000 + i, undefined, 1_700_000_000_000 + i * PTIME_MS);
    feed(stats, range(20, 30));
    expect(stats.reportBlock(0)).toMatchObject({ cumulativeLost: 0, jitter: 0 });
  });
});

describe('ReceiveStatistics: jitter (RFC 3550 A.8)', () => {
  it('is zero for perfectly paced packets, across the RTP timestamp wrap', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, range(0, 500), { ts0: 2 ** 32 - 100 * SAMPLES });
    expect(stats.jitterMs).toBe(0);
    expect(stats.reportBlock(0)?.jitter).toBe(0);
  });

  it('converges as the estimator says when every other packet is 10 ms late', () => {
    const stats = new ReceiveStatistics(8000);
    const n = 60;
    feed(stats, range(0, n), { delayMs: (i) => (i % 2) * 10 });
    // Each transit difference D is ±10 ms = 80 units, so J_k = J_{k-1} + (80 − J_{k-1})/16,
    // J_0 = 0, which is J_k = 80 (1 − (15/16)^k); n packets give n − 1 differences.
    const expected = 80 * (1 - (15 / 16) ** (n - 1));
    expect(stats.reportBlock(0)?.jitter).toBe(Math.floor(expected));
    expect(stats.jitterMs).toBeCloseTo(expected / 8, 9);
    feed(stats, range(n, 1000), { delayMs: (i) => (i % 2) * 10 });
    expect(stats.jitterMs).toBeCloseTo(10, 6);
  });

  it('keeps the estimate in ms when the clock rate changes', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, range(0, 1000), { delayMs: (i) => (i % 2) * 10 });
    stats.setClockRate(16_000);
    expect(stats.jitterMs).toBeCloseTo(10, 6);
    // 10 ms is 160 units of 16 kHz (floored, so 159 while the estimate is a hair under).
    expect(Math.abs(stats.reportBlock(0)!.jitter - 160)).toBeLessThanOrEqual(1);
    expect(() => stats.setClockRate(0)).toThrow(RangeError);
  });

  it('ignores a timestamp discontinuity instead of counting it as jitter', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, range(0, 50));
    feed(stats, range(50, 100), { ts0: 5000 + 3_600_000 * 8 });
    expect(stats.jitterMs).toBe(0);
  });
});

describe('LSR, DLSR and round trip', () => {
  it('echoes the last SR of the stream with the delay since it arrived in 1/65536 s', () => {
    const stats = new ReceiveStatistics(8000);
    // An SR may come before the first packet.
    stats.onSenderReport(SSRC, 0xabcd_1234, 1_000);
    feed(stats, [0]);
    expect(stats.reportBlock(3_500)).toMatchObject({ lastSenderReport: 0xabcd_1234, delaySinceLastSenderReport: 2.5 * 65_536 });
    // An SR from another SSRC is not this stream's.
    stats.onSenderReport(77, 0x1111_1111, 4_000);
    expect(stats.reportBlock(4_000)).toMatchObject({ lastSenderReport: 0xabcd_1234, delaySinceLastSenderReport: 3 * 65_536 });
  });

  it('has no LSR without an SR, nor after the stream changed SSRC', () => {
    const stats = new ReceiveStatistics(8000);
    feed(stats, [0]);
    expect(stats.reportBlock(1_000)).toMatchObject({ lastSenderReport: 0, delaySinceLastSenderReport: 0 });
    stats.onSenderReport(SSRC, 0xabcd_1234, 1_000);
    feed(stats, [1], { ssrc: 99 });
    expect(stats.reportBlock(2_000)).toMatchObject({ ssrc: 99, lastSenderReport: 0, delaySinceLastSenderReport: 0 });
  });

  const block = (lastSenderReport: number, delaySinceLastSenderReport: number): ReportBlock => ({
    ssrc: 1,
    fractionLost: 0,
    cumulativeLost: 0,
    extendedHighestSequence: 0,
    jitter: 0,
    lastSenderReport,
    delaySinceLastSenderReport,
  });

  it('computes A − LSR − DLSR in ms', () => {
    // 1_700_000_000.25 s Unix is NTP 3_908_988_800 s + 0x4000_0000 fraction: compact A = low 16 bits of the seconds, then 0x4000.
    const arrivalMs = 1_700_000_000_250;
    const a = (3_908_988_800 % 65_536) * 65_536 + 0x4000;
    // Sent 1 s + 62.5 ms (0x1000 units) before A, held 1 s by the far end.
    expect(roundTripMs(block(a - 65_536 - 0x1000, 65_536), arrivalMs)).toBe(62.5);
    expect(roundTripMs(block(0, 65_536), arrivalMs)).toBeUndefined();
    // A DLSR claiming more than the time since our SR: no round trip.
    expect(roundTripMs(block(a - 65_536, 2 * 65_536), arrivalMs)).toBeUndefined();
  });

  it('computes across the wrap of the compact NTP time', () => {
    // Compact NTP wraps every 65536 s; pick an arrival 0.5 s after a wrap.
    const wrapSeconds = Math.ceil(3_908_988_800 / 65_536) * 65_536;
    const arrivalMs = (wrapSeconds - 2_208_988_800) * 1000 + 500;
    // LSR 1 s before the wrap, DLSR 1.25 s: round trip 0.25 s.
    expect(roundTripMs(block(0x1_0000_0000 - 65_536, 1.25 * 65_536), arrivalMs)).toBe(250);
  });
});
