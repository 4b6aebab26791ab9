/**
 * The whole suite on PostgreSQL (`npm run test:pg`, or LEGWAY_DATABASE_URL set for vitest): each
 * gateway a test starts gets a fresh database of its own on that server, so tests never see each
 * other's data. The database belongs to the data folder: a gateway restarted on the same folder, and
 * a CLI command run on it, get the same database back. Without LEGWAY_DATABASE_URL nothing changes:
 * every gateway keeps its SQLite file in its data folder.
 */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { PgDatabase } from '../../src/store/pg/pgDatabase.js';
import type { SqlDb } from '../../src/store/sqlDb.js';
import { createDatabaseOn } from './postgres.js';

/** The server the suite runs on (a database of it the test user may connect to), or undefined for SQLite. */
export const TEST_DATABASE_SERVER = process.env.LEGWAY_DATABASE_URL || undefined;

/** Database URL per resolved data folder, for this test process. */
const byDataDir = new Map<string, string>();

/** LEGWAY_DATABASE_URL for a gateway or CLI command on `dataDir` when the suite runs on PostgreSQL; `{}` otherwise. */
export function databaseEnv(dataDir: string): { LEGWAY_DATABASE_URL?: string } {
  if (TEST_DATABASE_SERVER === undefined) return {};
  const key = resolve(dataDir);
  let url = byDataDir.get(key);
  if (url === undefined) {
    url = createDatabaseOn(TEST_DATABASE_SERVER, `legway_t_${randomBytes(8).toString('hex')}`);
    byDataDir.set(key, url);
  }
  return { LEGWAY_DATABASE_URL: url };
}

/** The data folder `legway` run in `cwd` with `env` uses (what LEGWAY_DATA_DIR says, or ./data). */
export function dataDirOf(cwd: string, env: Record<string, string>): string {
  return resolve(cwd, env.LEGWAY_DATA_DIR ?? './data');
}

/** A connection of the test's own to the store of the gateway on `dataDir` (read-only on SQLite), as another process sees it. */
export function connectStoreOf(dataDir: string): SqlDb {
  const url = databaseEnv(dataDir).LEGWAY_DATABASE_URL;
  return url === undefined ? new Database(join(dataDir, 'legway.sqlite'), { readonly: true, fileMustExist: true }) : new PgDatabase(url);
}

/** Drops the database of a data folder that is being removed (its gateway closed). */
export function dropDatabaseOf(dataDir: string): void {
  const key = resolve(dataDir);
  const url = byDataDir.get(key);
  if (url === undefined || TEST_DATABASE_SERVER === undefined) return;
  byDataDir.delete(key);
  const admin = new PgDatabase(TEST_DATABASE_SERVER);
  try {
    // FORCE: a connection the closed gateway left behind must not keep the database.
    admin.exec(`DROP DATABASE IF EXISTS "${new URL(url).pathname.slice(1)}" WITH (FORCE)`);
  } finally {
    admin.close();
  }
}
