import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations.js';

export type SqliteDb = Database.Database;

export interface OpenOptions {
  /** `full` fsyncs every commit (survives power loss); `normal` survives process crashes only. */
  synchronous: 'full' | 'normal';
}

/**
 * The page cache of the connection, in KiB (pages are allocated as used, up to this). Not larger:
 * when a B-tree page splits, SQLite (3.53) parks a page under the locking page's number for a
 * moment (`balance_nonroot`), and the next COMMIT then walks every cached page to drop it
 * (`pcache1TruncateUnsafe`), some 80 ns a page here. At 300 SIP calls/s that is about 30 commits a
 * second; a full 64 MiB cache made each of them 1.3 ms longer, a 16 MiB one 0.3 ms.
 */
const CACHE_KIB = 16 * 1024;

/** Opens (creating if needed) the SQLite file in WAL mode and migrates it. */
export function openDatabase(file: string, options: OpenOptions): SqliteDb {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // SQLite's default page cache is 2 MiB: a webhook backlog or a busy hour of events outgrows it, and
  // every delivery's delete and look-ahead then reads its pages back from the file.
  db.pragma(`cache_size = -${CACHE_KIB}`);
  migrate(db);
  return db;
}
