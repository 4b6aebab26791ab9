/** What to do after a failed attempt. */
export type Verdict = { retry: true; delayMs: number } | { retry: false; reason: string };

export interface RetrySchedule {
  baseMs: number;
  maxMs: number;
  giveUpAfterMs: number;
}

/**
 * Exponential backoff with jitter: the n-th retry waits between half and all of
 * min(max, base·2^(n-1)), so receivers coming back up are not hit by every sender at once.
 */
export function backoffMs(attempt: number, schedule: RetrySchedule, random: () => number): number {
  const ceiling = Math.min(schedule.maxMs, schedule.baseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Seconds or an HTTP date in `Retry-After`, as milliseconds from now (undefined when absent or unreadable). */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  if (/^\d{1,10}$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Whether a response status is worth retrying: 408, 429 and 5xx are; other 4xx are the receiver saying no. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Decides the fate of attempt number `attempt` (1-based) that failed with `status` (null for a
 * network error or timeout): retry after a delay, or park it as failed.
 */
export function decide(input: {
  attempt: number;
  status: number | null;
  retryAfter: string | undefined;
  now: number;
  windowStart: number;
  schedule: RetrySchedule;
  random: () => number;
}): Verdict {
  const { attempt, status, now, windowStart, schedule } = input;
  if (status !== null && !retryableStatus(status)) return { retry: false, reason: `receiver answered ${status}` };
  let delayMs = backoffMs(attempt, schedule, input.random);
  if (status === 429) delayMs = Math.max(delayMs, Math.min(retryAfterMs(input.retryAfter, now) ?? 0, schedule.giveUpAfterMs));
  if (now + delayMs - windowStart > schedule.giveUpAfterMs) {
    return { retry: false, reason: `gave up after ${attempt} attempts over ${Math.round((now - windowStart) / 1000)} s` };
  }
  return { retry: true, delayMs };
}
