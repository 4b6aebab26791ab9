import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UdpRetransmitter } from '../../../src/sip/transport/udpRetransmitter.js';

/** Times (ms from the start) at which `resend` was called while `ms` passed. */
function resendTimes(run: (resend: () => void) => void, ms: number): number[] {
  const start = Date.now();
  const times: number[] = [];
  run(() => times.push(Date.now() - start));
  vi.advanceTimersByTime(ms);
  return times;
}

describe('UdpRetransmitter (RFC 3261 §17 timers)', () => {
  let retransmitter: UdpRetransmitter;
  beforeEach(() => {
    vi.useFakeTimers();
    retransmitter = new UdpRetransmitter({ t1: 500, t2: 4000 });
  });
  afterEach(() => {
    retransmitter.clear();
    vi.useRealTimers();
  });

  it('Timer A: resends an INVITE at T1, 2T1, 4T1… and gives up at 64·T1', () => {
    expect(resendTimes((resend) => retransmitter.requestSent('b1', 'INVITE', resend), 40_000)).toEqual([500, 1500, 3500, 7500, 15_500, 31_500]);
    expect(retransmitter.size).toBe(0);
  });

  it('Timer A stops at the first response, provisional included', () => {
    const times = resendTimes((resend) => {
      retransmitter.requestSent('b1', 'INVITE', resend);
      setTimeout(() => retransmitter.responseReceived('b1', 'INVITE', 100), 1000);
    }, 10_000);
    expect(times).toEqual([500]);
  });

  it('Timer E: doubles up to T2, slows to T2 after a provisional, stops at the final response', () => {
    const times = resendTimes((resend) => {
      retransmitter.requestSent('b2', 'BYE', resend);
      setTimeout(() => retransmitter.responseReceived('b2', 'BYE', 100), 7600);
      setTimeout(() => retransmitter.responseReceived('b2', 'BYE', 200), 16_000);
    }, 40_000);
    expect(times).toEqual([500, 1500, 3500, 7500, 11_600, 15_600]);
  });

  it('matches responses by branch and method (a CANCEL shares its INVITE branch)', () => {
    const invite: number[] = [];
    const cancel: number[] = [];
    retransmitter.requestSent('b3', 'INVITE', () => invite.push(1));
    retransmitter.requestSent('b3', 'CANCEL', () => cancel.push(1));
    retransmitter.responseReceived('b3', 'CANCEL', 200);
    vi.advanceTimersByTime(600);
    expect(invite).toHaveLength(1);
    expect(cancel).toHaveLength(0);
  });

  it('never resends an ACK', () => {
    expect(resendTimes((resend) => retransmitter.requestSent('b4', 'ACK', resend), 5000)).toEqual([]);
  });

  it('Timer G: resends an INVITE rejection at T1 doubling up to T2 until the ACK', () => {
    const times = resendTimes((resend) => {
      retransmitter.inviteRejectionSent('b5', resend);
      setTimeout(() => retransmitter.ackReceived('b5'), 12_000);
    }, 40_000);
    expect(times).toEqual([500, 1500, 3500, 7500, 11_500]);
  });

  it('clear() stops everything', () => {
    const calls: number[] = [];
    retransmitter.requestSent('b6', 'OPTIONS', () => calls.push(1));
    retransmitter.inviteRejectionSent('b7', () => calls.push(2));
    retransmitter.clear();
    vi.advanceTimersByTime(10_000);
    expect(calls).toEqual([]);
  });
});
