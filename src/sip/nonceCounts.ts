/**
 * The highest nonce count (`nc`, RFC 2617 §3.2.2) each nonce of ours was used with: a request whose
 * nc is not above it is a replay (a captured INVITE sent again, to the same or another number) and
 * is refused. An answer without qop has no nc and counts as nc 0: its nonce works once.
 *
 * Bounded: past `limit` nonces, the least recently used is forgotten, and every nonce issued no
 * later than a forgotten one is from then on refused as stale (its caller gets a fresh challenge),
 * so forgetting never lets a replay through.
 */
export class NonceCounts {
  private readonly used = new Map<string, { nc: number; issuedAt: number }>();
  /** Nonces issued at or before this time that are not tracked are refused. */
  private floor = -Infinity;

  constructor(
    private readonly lifetimeMs: number,
    private readonly limit = 50_000,
  ) {}

  get size(): number {
    return this.used.size;
  }

  /**
   * Records a verified use of a nonce with count `nc`: `ok`, `replayed` (not above the last count),
   * or `forgotten` (too old to be told from a replay: to be treated as stale).
   */
  use(nonce: string, issuedAt: number, nc: number, now: number): 'ok' | 'replayed' | 'forgotten' {
    this.prune(now);
    const entry = this.used.get(nonce);
    if (entry) {
      if (nc <= entry.nc) return 'replayed';
      entry.nc = nc;
      this.used.delete(nonce);
      this.used.set(nonce, entry);
      return 'ok';
    }
    if (issuedAt <= this.floor) return 'forgotten';
    this.used.set(nonce, { nc, issuedAt });
    for (const [key, old] of this.used) {
      if (this.used.size <= this.limit) break;
      this.used.delete(key);
      this.floor = Math.max(this.floor, old.issuedAt);
    }
    return 'ok';
  }

  /** Drops nonces past their lifetime: they are refused as stale before their count matters. */
  private prune(now: number): void {
    for (const [key, entry] of this.used) {
      if (now - entry.issuedAt > this.lifetimeMs) this.used.delete(key);
    }
  }
}
