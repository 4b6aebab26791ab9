import type { Dialect, SqlDb } from './sqlDb.js';

/** A revoked token's id and its place in the order of revocations. */
export interface Revocation {
  seq: number;
  jti: string;
  revoked_at: string;
}

/** The deny-list of revoked token ids (`jti`). */
export class RevokedTokensRepo {
  private readonly insertStmt;
  private readonly sinceStmt;
  private readonly getStmt;

  constructor(db: SqlDb, dialect: Dialect) {
    this.insertStmt = db.prepare<[string, string]>(
      dialect === 'sqlite'
        ? 'INSERT OR IGNORE INTO revoked_tokens (jti, revoked_at) VALUES (?, ?)'
        : 'INSERT INTO revoked_tokens (jti, revoked_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING',
    );
    this.sinceStmt = db.prepare<[number], Revocation>('SELECT seq, jti, revoked_at FROM revoked_tokens WHERE seq > ? ORDER BY seq');
    this.getStmt = db.prepare<[string], Revocation>('SELECT seq, jti, revoked_at FROM revoked_tokens WHERE jti = ?');
  }

  /** Records `jti` as revoked; false when it already was. */
  add(jti: string, revokedAt: string): boolean {
    return this.insertStmt.run(jti, revokedAt).changes > 0;
  }

  get(jti: string): Revocation | undefined {
    return this.getStmt.get(jti);
  }

  /** Revocations recorded after `seq`, oldest first. */
  since(seq: number): Revocation[] {
    return this.sinceStmt.all(seq);
  }
}
