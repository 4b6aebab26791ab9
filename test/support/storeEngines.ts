/**
 * Store tests on both engines: SQLite always, and a real PostgreSQL when one can be started here
 * (otherwise that half is skipped with a printed reason, and fails under LEGWAY_REQUIRE_PEERS=1).
 * A file starts one PostgreSQL at most (`usePostgres()`), or uses the server of `npm run test:pg`,
 * and gives every test a fresh database on it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll } from 'vitest';
import { PgDatabase } from '../../src/store/pg/pgDatabase.js';
import type { SqlDb } from '../../src/store/sqlDb.js';
import { Store, type StoreOptions } from '../../src/store/store.js';
import { createDatabaseOn, postgresMissing, startPostgres, type Postgres } from './postgres.js';
import { peerMissing } from './requiredPeers.js';
import { TEST_DATABASE_SERVER } from './testDatabases.js';

export type Engine = 'sqlite' | 'postgres';

/** Why the PostgreSQL half is skipped, or undefined when it runs. */
export const postgresSkipped: string | undefined = TEST_DATABASE_SERVER === undefined ? peerMissing(postgresMissing()) : undefined;

/** The engines the store tests run on. */
export const ENGINES: readonly Engine[] = postgresSkipped === undefined ? ['sqlite', 'postgres'] : ['sqlite'];

let server: Postgres | undefined;
let serverDir: string | undefined;

/**
 * Starts this file's PostgreSQL before its tests and stops it after them; call it once at the top
 * of a file that tests on ENGINES. It says why the PostgreSQL half is skipped, when it is.
 */
export function usePostgres(what: string): void {
  if (postgresSkipped !== undefined) {
    console.log(`skipping ${what} on PostgreSQL: ${postgresSkipped}`);
    return;
  }
  if (TEST_DATABASE_SERVER !== undefined) return;
  beforeAll(async () => {
    serverDir = mkdtempSync(join(tmpdir(), 'legway-pg-'));
    server = await startPostgres(serverDir, { durable: false });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    server = undefined;
    if (serverDir !== undefined) rmSync(serverDir, { recursive: true, force: true });
  });
}

/** A new empty database on this file's PostgreSQL (see `usePostgres`). */
export function newDatabase(): string {
  const url = TEST_DATABASE_SERVER ?? server?.url;
  if (url === undefined) throw new Error('no PostgreSQL: call usePostgres() at the top of the file');
  return createDatabaseOn(url, `legway_u_${randomBytes(8).toString('hex')}`);
}

/** One store's place on an engine: a data folder, and on PostgreSQL a database of its own. */
export interface EngineStore {
  engine: Engine;
  dir: string;
  /** The database URL on PostgreSQL; undefined on SQLite. */
  databaseUrl: string | undefined;
  /** Opens (again) the store; SQLite's settings as the test gives them. */
  open(options?: Partial<Parameters<typeof Store.open>[1]> & StoreOptions): Store;
  /** Another connection to the same database, as another process (a restarted gateway) has. */
  connect(): SqlDb;
  /** Removes the data folder (the database goes with the server). */
  remove(): void;
}

export function engineStore(engine: Engine): EngineStore {
  const dir = mkdtempSync(join(tmpdir(), `legway-${engine}-`));
  const databaseUrl = engine === 'postgres' ? newDatabase() : undefined;
  return {
    engine,
    dir,
    databaseUrl,
    open: (options = {}) => Store.open(dir, { synchronous: 'normal', ...options, databaseUrl }),
    connect: () => (databaseUrl === undefined ? new Database(join(dir, 'legway.sqlite'), { readonly: true }) : new PgDatabase(databaseUrl)),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
