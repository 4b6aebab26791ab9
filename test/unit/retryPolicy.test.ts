import { describe, expect, it } from 'vitest';
import { backoffMs, decide, retryAfterMs, retryableStatus } from '../../src/webhooks/retryPolicy.js';

const schedule = { baseMs: 1000, maxMs: 600_000, giveUpAfterMs: 86_400_000 };

describe('webhook retry policy', () => {
  it('backs off exponentially between half and all of the ceiling, capped at the maximum', () => {
    expect(backoffMs(1, schedule, () => 0)).toBe(500);
    expect(backoffMs(1, schedule, () => 1)).toBe(1000);
    expect(backoffMs(4, schedule, () => 1)).toBe(8000);
    expect(backoffMs(30, schedule, () => 1)).toBe(600_000);
    expect(backoffMs(30, schedule, () => 0)).toBe(300_000);
  });

  it('spreads a default schedule over about a day before giving up', () => {
    let elapsed = 0;
    let attempt = 0;
    for (;;) {
      attempt++;
      const v = decide({ attempt, status: 503, retryAfter: undefined, now: elapsed, windowStart: 0, schedule, random: () => 0.5 });
      if (!v.retry) break;
      elapsed += v.delayMs;
    }
    expect(elapsed).toBeGreaterThan(23 * 3600_000);
    expect(elapsed).toBeLessThanOrEqual(24 * 3600_000);
    expect(attempt).toBeGreaterThan(100);
  });

  it('retries 408, 429, 5xx and network errors; parks other 4xx at once', () => {
    for (const s of [408, 429, 500, 502, 503, 504]) expect(retryableStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 410, 422]) expect(retryableStatus(s)).toBe(false);
    expect(decide({ attempt: 1, status: 404, retryAfter: undefined, now: 0, windowStart: 0, schedule, random: Math.random })).toMatchObject({ retry: false });
    expect(decide({ attempt: 1, status: null, retryAfter: undefined, now: 0, windowStart: 0, schedule, random: Math.random })).toMatchObject({ retry: true });
  });

  it('honours Retry-After on 429, in seconds or as an HTTP date', () => {
    expect(retryAfterMs('120', 0)).toBe(120_000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT'))).toBe(60_000);
    expect(retryAfterMs('soon', 0)).toBeUndefined();
    const v = decide({ attempt: 1, status: 429, retryAfter: '30', now: 0, windowStart: 0, schedule, random: () => 0 });
    expect(v).toEqual({ retry: true, delayMs: 30_000 });
  });
});
