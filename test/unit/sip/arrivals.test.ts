/**
 * How long the transport remembers where a request came from (`Arrivals`): while it waits for its
 * final response, five minutes from its last use; after it, an INVITE for 64·T1 from its last use
 * (its 2xx retransmissions, the ACK of its rejection) and any other request not at all.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Arrivals, type Arrival } from '../../../src/sip/transport/arrivals.js';
import { parseVia } from '../../../src/sip/transport/via.js';

const TTL = 300_000;
const ANSWERED_TTL = 32_000;

function arrival(branch: string): Omit<Arrival, 'at'> {
  const topVia = parseVia(`SIP/2.0/UDP 192.0.2.1:5060;branch=${branch};received=192.0.2.1;rport=5060`);
  if (!topVia) throw new Error('test Via does not parse');
  return { source: { protocol: 'UDP', address: '192.0.2.1', port: 5060 }, connection: undefined, transactionId: branch, topVia };
}

describe('Arrivals', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('forgets a non-INVITE request as soon as it has its final response, not before', () => {
    const arrivals = new Arrivals(TTL, 100, ANSWERED_TTL);
    arrivals.remember('bye', arrival('z9hG4bK-bye'));
    arrivals.settle('bye', 'BYE');
    expect(arrivals.find('bye')).toBeUndefined();
    expect(arrivals.size).toBe(0);

    arrivals.remember('options', arrival('z9hG4bK-options'));
    vi.advanceTimersByTime(TTL - 1);
    expect(arrivals.find('options')?.transactionId).toBe('z9hG4bK-options');
    arrivals.settle('options', 'OPTIONS');
    expect(arrivals.size).toBe(0);
  });

  it('keeps an answered INVITE for 64·T1 from its last use, then forgets it', () => {
    const arrivals = new Arrivals(TTL, 100, ANSWERED_TTL);
    arrivals.remember('invite', arrival('z9hG4bK-invite'));
    // Ringing for four minutes: still known for the 200.
    vi.advanceTimersByTime(240_000);
    expect(arrivals.find('invite')).toBeDefined();
    arrivals.settle('invite', 'INVITE');
    // The 2xx retransmissions and the ACK find it, each refreshing it.
    vi.advanceTimersByTime(ANSWERED_TTL - 1);
    expect(arrivals.find('invite')?.transactionId).toBe('z9hG4bK-invite');
    vi.advanceTimersByTime(ANSWERED_TTL - 1);
    expect(arrivals.find('invite')).toBeDefined();
    vi.advanceTimersByTime(ANSWERED_TTL);
    expect(arrivals.find('invite')).toBeUndefined();
    expect(arrivals.size).toBe(0);
  });

  it('lets expired answered INVITEs go when the next request is answered', () => {
    const arrivals = new Arrivals(TTL, 100, ANSWERED_TTL);
    for (let i = 0; i < 10; i++) {
      arrivals.remember(`invite-${i}`, arrival(`z9hG4bK-${i}`));
      arrivals.settle(`invite-${i}`, 'INVITE');
    }
    expect(arrivals.size).toBe(10);
    vi.advanceTimersByTime(ANSWERED_TTL);
    arrivals.remember('options', arrival('z9hG4bK-options'));
    arrivals.settle('options', 'OPTIONS');
    expect(arrivals.size).toBe(0);
  });

  it('remembers a request retransmitted after its answer anew', () => {
    const arrivals = new Arrivals(TTL, 100, ANSWERED_TTL);
    arrivals.remember('bye', arrival('z9hG4bK-bye'));
    arrivals.settle('bye', 'BYE');
    arrivals.remember('bye', arrival('z9hG4bK-bye'));
    expect(arrivals.find('bye')?.transactionId).toBe('z9hG4bK-bye');
  });

  it('forgets a request waiting for its answer five minutes after its last use', () => {
    const arrivals = new Arrivals(TTL, 100, ANSWERED_TTL);
    arrivals.remember('invite', arrival('z9hG4bK-invite'));
    vi.advanceTimersByTime(TTL);
    expect(arrivals.find('invite')).toBeUndefined();
    // Settling what is not known changes nothing.
    arrivals.settle('invite', 'INVITE');
    expect(arrivals.size).toBe(0);
  });

  it('holds at most `limit` records in each set, the oldest forgotten first', () => {
    const arrivals = new Arrivals(TTL, 3, ANSWERED_TTL);
    for (let i = 0; i < 5; i++) arrivals.remember(`r-${i}`, arrival(`z9hG4bK-r${i}`));
    expect(arrivals.size).toBe(3);
    expect(arrivals.find('r-0')).toBeUndefined();
    expect(arrivals.find('r-1')).toBeUndefined();
    expect(arrivals.find('r-4')).toBeDefined();
    for (let i = 0; i < 5; i++) {
      arrivals.remember(`i-${i}`, arrival(`z9hG4bK-i${i}`));
      arrivals.settle(`i-${i}`, 'INVITE');
    }
    expect(arrivals.find('i-0')).toBeUndefined();
    expect(arrivals.find('i-4')).toBeDefined();
  });
});
