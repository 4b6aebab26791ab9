/**
 * The store's port: the part of a synchronous SQL connection the repositories use. better-sqlite3's
 * `Database` (the embedded store) and `PgDatabase` (LEGWAY_DATABASE_URL) both satisfy it, so every
 * repository is written once against this and takes its dialect for the few statements that differ.
 */

/** Which SQL the connection speaks, for the statements that are written twice. */
export type Dialect = 'sqlite' | 'postgres';

/** A prepared statement; `P` is its parameter list (one object for `@name` parameters). */
export interface SqlStatement<P extends unknown[], R> {
  run(...params: P): { changes: number };
  get(...params: P): R | undefined;
  all(...params: P): R[];
  /** Rows come back as their first column's value (`R` is then that value's type). */
  pluck(on?: boolean): this;
}

export interface SqlDb {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- better-sqlite3's own constraint, which this must match
  prepare<P extends unknown[] | {} = unknown[], R = unknown>(sql: string): P extends unknown[] ? SqlStatement<P, R> : SqlStatement<[P], R>;
  /** Runs statements without parameters (several, separated by semicolons). */
  exec(sql: string): unknown;
  /** Wraps `fn` so that each call runs in a transaction, or a savepoint inside one. */
  transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T;
  readonly inTransaction: boolean;
  close(): unknown;
}
