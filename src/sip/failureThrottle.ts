/**
 * Failed authentications per source address: after `limit` failures within `windowMs`, the
 * address is blocked for `blockMs` — its requests are refused without looking at their
 * credentials, so that guessing passwords costs time. At most `maxTracked` addresses are held
 * (the least recently failing forgotten first).
 */
export interface FailureThrottleOptions {
  readonly limit?: number;
  readonly windowMs?: number;
  readonly blockMs?: number;
  readonly maxTracked?: number;
}

interface Entry {
  failures: number[];
  blockedUntil: number;
}

export class FailureThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly blockMs: number;
  private readonly maxTracked: number;

  constructor(
    options: FailureThrottleOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.limit = options.limit ?? 5;
    this.windowMs = options.windowMs ?? 60_000;
    this.blockMs = options.blockMs ?? 60_000;
    this.maxTracked = options.maxTracked ?? 10_000;
  }

  /** Whether requests from `address` are refused unchecked for now. */
  blocked(address: string): boolean {
    const entry = this.entries.get(address);
    return entry !== undefined && entry.blockedUntil > this.now();
  }

  /** Counts a failure of `address`; true when it is blocked from now on. */
  fail(address: string): boolean {
    const now = this.now();
    const entry = this.entries.get(address) ?? { failures: [], blockedUntil: 0 };
    entry.failures = entry.failures.filter((at) => now - at < this.windowMs);
    entry.failures.push(now);
    if (entry.failures.length >= this.limit) {
      entry.blockedUntil = now + this.blockMs;
      entry.failures = [];
    }
    this.entries.delete(address);
    this.entries.set(address, entry);
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.maxTracked) break;
      this.entries.delete(key);
    }
    return entry.blockedUntil > now;
  }
}
