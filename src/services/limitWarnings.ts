import type { Logger } from 'pino';

/** How long a tripped limit stays quiet for the same key after its warning. */
const QUIET_MS = 60_000;
/** Keys remembered at once; past it, the ones out of their quiet time are forgotten. */
const MAX_KEYS = 10_000;

/**
 * Logs a warning the first time a limit trips for a given key (a user, an address, a
 * conversation) in each minute. A client that hammers a limit is refused every time, but the log
 * says so once a minute, so the refusals cannot flood it.
 */
export class LimitWarnings {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /** Records that `limit` (its config key) refused `key`; warns unless it did so for that pair within the minute. */
  tripped(limit: string, key: string, fields: Record<string, unknown> = {}): void {
    const id = `${limit}\u0000${key}`;
    const t = this.now();
    const last = this.last.get(id);
    if (last !== undefined && t - last < QUIET_MS) return;
    if (this.last.size >= MAX_KEYS) this.forgetQuietOnes(t);
    this.last.set(id, t);
    this.logger.warn({ limit, key, ...fields }, `limit ${limit} reached; refusals for this key are not logged again for a minute`);
  }

  private forgetQuietOnes(t: number): void {
    for (const [id, at] of this.last) if (t - at >= QUIET_MS) this.last.delete(id);
    // Still full (a flood of distinct keys): start over rather than grow without bound.
    if (this.last.size >= MAX_KEYS) this.last.clear();
  }
}
