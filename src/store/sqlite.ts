import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations.js';

export type SqliteDb = Database.Database;

export interface OpenOptions {
  /** `full` fsyncs every commit (survives power loss); `normal` survives process crashes only. */
  synchronous: 'full' | 'normal';
}

/** Opens (creating if needed) the SQLite file in WAL mode and migrates it. */
export function openDatabase(file: string, options: OpenOptions): SqliteDb {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}
