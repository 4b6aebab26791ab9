/**
 * A synchronous PostgreSQL connection (libpq, the C client library) with the part of
 * better-sqlite3's API that the repositories use: `prepare(sql)` with `run`/`get`/`all`/`pluck`,
 * `exec`, and `transaction(fn)` (savepoints when nested). The store's contract stays synchronous, so
 * every service works unchanged on either engine; each call is one round trip on loopback or a LAN
 * (tens of microseconds), the same order as SQLite's own work per statement.
 *
 * SQL is written once: `?` and `@name` parameters become `$n`, and result values come back as
 * SQLite gives them (integers and numerics as numbers, booleans as 1/0, everything else as text).
 */
import { createRequire } from 'node:module';
import type Libpq from 'libpq';

/**
 * libpq is loaded on first use, with require: the SQLite store never loads the native addon, and
 * libpq's index.js prints its include folder to stdout when it has no CommonJS parent (an ESM
 * import), which would end up in `TOKEN=$(legway token …)`.
 */
let LibpqClass: typeof Libpq | undefined;
function loadLibpq(): typeof Libpq {
  return (LibpqClass ??= createRequire(import.meta.url)('libpq') as typeof Libpq);
}

/**
 * Finished connections stay referenced for the life of the process. libpq's finish() hands the
 * connection's poll handle, which lives inside the native object, to libuv to close later; if the
 * object is collected and freed before libuv is done with it, the process aborts in
 * uv__finish_close. Dropping the reference 100 ms after finish() still aborted (reproduced by
 * test files that open and close many gateways on PostgreSQL), so none is dropped: what is kept is
 * a few hundred bytes per closed connection (the server connection itself is gone), and a process
 * closes one only when a store closes or a lost connection is replaced.
 */
const finished: Libpq[] = [];
function finish(pq: Libpq): void {
  pq.finish();
  finished.push(pq);
}

/** PostgreSQL type OIDs whose text form is turned into a number. */
const NUMERIC_TYPES = new Set([20, 21, 23, 26, 700, 701, 1700]);
const BOOL_TYPE = 16;
const PGRES_COMMAND_OK = 'PGRES_COMMAND_OK';
/** PQtransactionStatus once the connection is gone (server restarted, network cut, backend ended). */
const PQTRANS_UNKNOWN = 4;
const PGRES_TUPLES_OK = 'PGRES_TUPLES_OK';

export class PgError extends Error {
  constructor(
    message: string,
    /** SQLSTATE, e.g. 23505 for a unique violation. */
    readonly sqlState: string | undefined,
    /** The SQLite-style code repositories test for (`SQLITE_CONSTRAINT_UNIQUE`), or the SQLSTATE. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'PgError';
  }
}

const SQLITE_CODES: Record<string, string> = {
  '23505': 'SQLITE_CONSTRAINT_UNIQUE',
  '23503': 'SQLITE_CONSTRAINT_FOREIGNKEY',
  '23502': 'SQLITE_CONSTRAINT_NOTNULL',
  '23514': 'SQLITE_CONSTRAINT_CHECK',
};

interface CompiledSql {
  text: string;
  /** Named parameters in `$n` order, or undefined when the statement uses `?`. */
  names: string[] | undefined;
  count: number;
}

/** Rewrites `?` and `@name` outside quotes and comments into `$1…$n`. */
export function compileSql(sql: string): CompiledSql {
  let text = '';
  let count = 0;
  let names: string[] | undefined;
  const index = new Map<string, number>();
  for (let i = 0; i < sql.length; i++) {
    const c = sql.charAt(i);
    if (c === "'" || c === '"') {
      const end = closingQuote(sql, i, c);
      text += sql.slice(i, end + 1);
      i = end;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      text += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      if (names) throw new Error('a statement mixes ? and @name parameters');
      text += `$${++count}`;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      if (count > 0 && !names) throw new Error('a statement mixes ? and @name parameters');
      names ??= [];
      let j = i + 1;
      while (j < sql.length && /\w/.test(sql.charAt(j))) j++;
      const name = sql.slice(i + 1, j);
      let n = index.get(name);
      if (n === undefined) {
        names.push(name);
        n = names.length;
        index.set(name, n);
      }
      text += `$${n}`;
      i = j - 1;
    } else {
      text += c;
    }
  }
  return { text, names, count: names ? names.length : count };
}

function closingQuote(sql: string, start: number, quote: string): number {
  for (let i = start + 1; i < sql.length; i++) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) i++;
      else return i;
    }
  }
  return sql.length - 1;
}

function toParam(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  throw new TypeError(`cannot bind a ${typeof value} as an SQL parameter`);
}

export interface RunResult {
  changes: number;
}

export class PgStatement<P extends unknown[] = unknown[], R = unknown> {
  private plucked = false;
  private name: string | undefined;
  /** The connection `name` was prepared on (see PgDatabase.generation). */
  private generation = -1;

  constructor(
    private readonly db: PgDatabase,
    private readonly sql: CompiledSql,
  ) {}

  /** Rows come back as their first column's value. */
  pluck(on = true): this {
    this.plucked = on;
    return this;
  }

  run(...params: P): RunResult {
    this.execute(params);
    const changes = this.db.pq.cmdTuples();
    return { changes: changes === '' ? 0 : Number(changes) };
  }

  get(...params: P): R | undefined {
    this.execute(params);
    return this.db.pq.ntuples() === 0 ? undefined : (this.row(0) as R);
  }

  all(...params: P): R[] {
    this.execute(params);
    const rows: R[] = [];
    for (let r = 0, n = this.db.pq.ntuples(); r < n; r++) rows.push(this.row(r) as R);
    return rows;
  }

  private execute(params: unknown[]): void {
    const values = this.bind(params);
    const pq = this.db.live();
    let name = this.name;
    if (name === undefined || this.generation !== this.db.generation) {
      name = this.name = this.db.prepareNamed(this.sql);
      this.generation = this.db.generation;
    }
    pq.execPrepared(name, values as string[]);
    this.db.check(this.sql.text);
  }

  private bind(params: unknown[]): (string | null)[] {
    const { names, count } = this.sql;
    if (names) {
      const object = (params[0] ?? {}) as Record<string, unknown>;
      return names.map((name) => {
        if (!(name in object)) throw new RangeError(`missing named parameter "${name}"`);
        return toParam(object[name]);
      });
    }
    if (params.length !== count) throw new RangeError(`expected ${count} parameters, got ${params.length}`);
    return params.map(toParam);
  }

  private row(r: number): unknown {
    const pq = this.db.pq;
    if (this.plucked) return this.value(r, 0);
    const row: Record<string, unknown> = {};
    for (let f = 0, n = pq.nfields(); f < n; f++) row[pq.fname(f)] = this.value(r, f);
    return row;
  }

  private value(r: number, f: number): unknown {
    const pq = this.db.pq;
    if (pq.getisnull(r, f)) return null;
    const text = pq.getvalue(r, f);
    const type = pq.ftype(f);
    if (NUMERIC_TYPES.has(type)) return Number(text);
    if (type === BOOL_TYPE) return text === 't' ? 1 : 0;
    return text;
  }
}

/**
 * Whether a failure left the connection unusable: libpq says so, or the error is libpq's own (no
 * SQLSTATE: the server never answered), a connection exception (08…) or the server shutting the
 * session down (57P01–57P03). libpq may report a terminated session before it marks it bad.
 */
function connectionLost(pq: Libpq, sqlState: string | undefined): boolean {
  // @types/libpq leaves transactionStatus out; libpq has it (PQtransactionStatus).
  if ((pq as Libpq & { transactionStatus(): number }).transactionStatus() === PQTRANS_UNKNOWN) return true;
  return sqlState === undefined || sqlState.startsWith('08') || /^57P0[123]$/.test(sqlState);
}

function connect(url: string): Libpq {
  const pq = new (loadLibpq())();
  try {
    pq.connectSync(url);
  } catch (err) {
    const message = pq.errorMessage().trim() || (err instanceof Error ? err.message : String(err));
    finish(pq);
    throw new PgError(`cannot connect to PostgreSQL: ${message}`, undefined, 'PG_CONNECT');
  }
  return pq;
}

/**
 * One synchronous connection. Not for use from two places at once (it is not: Node runs one thing
 * at a time). A connection found lost (the server restarted, the network was cut) fails what was
 * running on it; the next statement outside a transaction connects again and prepares its
 * statements anew, so a gateway recovers without a restart. Nothing is retried by itself: a write
 * whose fate is unknown is the caller's to report.
 */
export class PgDatabase {
  private connection: Libpq;
  private depth = 0;
  private prepared = 0;
  private savepoints = 0;
  private open = true;
  private lost = false;
  /** Bumped by each new connection: statements prepared on an earlier one are prepared again. */
  generation = 0;

  constructor(private readonly url: string) {
    this.connection = connect(url);
    this.setUp();
  }

  /** The libpq connection, for PgStatement. */
  get pq(): Libpq {
    return this.connection;
  }

  /** @internal The connection to run a statement on: a new one when the last was lost and no transaction spans the loss. */
  live(): Libpq {
    if (this.lost && this.depth === 0 && this.open) {
      const next = connect(this.url);
      finish(this.connection);
      this.connection = next;
      this.lost = false;
      this.generation++;
      this.setUp();
    }
    return this.connection;
  }

  private setUp(): void {
    // Notices (e.g. "table does not exist, skipping") would go to stderr from libpq itself.
    this.exec('SET client_min_messages = warning');
  }

  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- better-sqlite3's constraint, so both satisfy SqlDb
  prepare<P extends unknown[] | {} = unknown[], R = unknown>(sql: string): P extends unknown[] ? PgStatement<P, R> : PgStatement<[P], R> {
    return new PgStatement(this, compileSql(sql)) as P extends unknown[] ? PgStatement<P, R> : PgStatement<[P], R>;
  }

  /** Runs one or more statements without parameters. */
  exec(sql: string): void {
    this.live().exec(sql);
    this.check(sql);
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /**
   * Wraps `fn` so that each call runs in a transaction, or a savepoint inside one; an exception
   * rolls it back and is rethrown (better-sqlite3's `db.transaction(fn)`).
   */
  transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T {
    return (...args: A): T => {
      const savepoint = this.depth > 0 ? `sp${++this.savepoints}` : undefined;
      this.exec(savepoint ? `SAVEPOINT ${savepoint}` : 'BEGIN');
      this.depth++;
      let result: T;
      try {
        result = fn(...args);
      } catch (err) {
        this.depth--;
        // A lost connection took the transaction with it: nothing to roll back (and no new connection to do it on).
        if (!this.lost) this.exec(savepoint ? `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}` : 'ROLLBACK');
        throw err;
      }
      this.depth--;
      // The connection was lost under a caller that went on: its transaction is gone, not committed.
      if (this.lost) throw new PgError('the connection to PostgreSQL was lost; the transaction did not commit', undefined, 'PG_CONNECTION_LOST');
      this.exec(savepoint ? `RELEASE SAVEPOINT ${savepoint}` : 'COMMIT');
      return result;
    };
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    finish(this.connection);
  }

  /** @internal Prepares `sql` on the server once; returns its statement name. */
  prepareNamed(sql: CompiledSql): string {
    const name = `legway_${++this.prepared}`;
    this.connection.prepare(name, sql.text, sql.count);
    this.check(sql.text);
    return name;
  }

  /** @internal Throws the server's error for the last command, if it failed. */
  check(sql: string): void {
    const pq = this.connection;
    const status = pq.resultStatus();
    if (status === PGRES_COMMAND_OK || status === PGRES_TUPLES_OK) return;
    const fields = pq.resultErrorFields() as { sqlState?: string; messagePrimary?: string } | undefined;
    const sqlState = fields?.sqlState;
    const message = fields?.messagePrimary ?? pq.errorMessage().trim();
    if (connectionLost(pq, sqlState)) this.lost = true;
    const code = (sqlState && SQLITE_CODES[sqlState]) ?? sqlState ?? (this.lost ? 'PG_CONNECTION_LOST' : 'PG_ERROR');
    throw new PgError(`${message} (in: ${sql.slice(0, 120)})`, sqlState, code);
  }
}
