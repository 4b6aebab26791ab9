import type { Principal } from '../auth/principal.js';
import type { RevocationCheck } from '../auth/tokens.js';
import { fail } from '../domain/errors.js';
import type { Clock } from '../lib/clock.js';
import { TypedEmitter } from '../lib/typedEmitter.js';
import type { Store } from '../store/store.js';
import type { Revocation } from '../store/revokedTokensRepo.js';

/** What a revocation answers: the token id, when it was revoked, and whether this call revoked it. */
export interface RevokeResult {
  jti: string;
  revoked_at: string;
  created: boolean;
}

/**
 * The deny-list of revoked token ids, held in memory so that every handshake and request checks it
 * without a query. It is loaded from the store at start, updated at once by `revoke`, and by
 * `refresh` with what other processes (`legway token revoke`) recorded since.
 */
export class TokenRevocations implements RevocationCheck {
  private readonly ids = new Set<string>();
  private seen = 0;
  private readonly emitter: TypedEmitter<{ revoked: [jti: string] }>;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    onListenerError: (err: unknown) => void,
  ) {
    this.emitter = new TypedEmitter(onListenerError);
    this.refresh();
  }

  has(jti: string): boolean {
    return this.ids.has(jti);
  }

  /** Calls `listener` with each token id newly revoked (here or, after `refresh`, elsewhere). */
  onRevoked(listener: (jti: string) => void): () => void {
    return this.emitter.on('revoked', listener);
  }

  /** The application revokes a token by its id; revoking one twice changes nothing. */
  revoke(jti: string, p: Principal): RevokeResult {
    if (p.role !== 'application') throw fail('Forbidden', 'revoking tokens needs an application token');
    const at = this.clock.now().toISOString();
    const created = this.store.transaction(() => this.store.revokedTokens.add(jti, at));
    const row = this.store.revokedTokens.get(jti);
    this.learn({ seq: 0, jti, revoked_at: row?.revoked_at ?? at });
    return { jti, revoked_at: row?.revoked_at ?? at, created };
  }

  /** Picks up revocations recorded since the last look (by this process or another). */
  refresh(): void {
    for (const row of this.store.revokedTokens.since(this.seen)) {
      this.seen = row.seq;
      this.learn(row);
    }
  }

  private learn(row: Revocation): void {
    if (this.ids.has(row.jti)) return;
    this.ids.add(row.jti);
    this.emitter.emit('revoked', row.jti);
  }
}
