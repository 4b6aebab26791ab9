import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** The file in the data folder whose lock says a gateway runs on that folder. */
export const LOCK_FILE = 'legway.lock';

/** Raised when another process holds the data folder's lock; nothing in the folder was touched. */
export class DataDirInUse extends Error {
  override readonly name = 'DataDirInUse';
  readonly code = 'DataDirInUse';
  constructor(readonly dataDir: string) {
    super(`the data folder ${dataDir} is in use by another legway process; stop it first, or give this one its own LEGWAY_DATA_DIR`);
  }
}

/**
 * An exclusive lock on a data folder, so that two gateways never run on one SQLite file (the second
 * would end the first one's live legs and finish its recordings as if it had crashed).
 *
 * The lock is SQLite's own: a small database of its own in the folder, opened in exclusive locking
 * mode, written once, and kept open. SQLite then holds an OS lock (fcntl) on the file until the
 * connection closes, and the kernel drops it when the process dies however it dies — `kill -9`
 * leaves nothing stale behind, unlike a pid file or a lock folder. (Network file systems without
 * working fcntl locks do not give this guarantee.)
 */
export class DataDirLock {
  private constructor(
    private readonly db: Database.Database,
    readonly dataDir: string,
  ) {}

  /** Takes the folder's lock now, or throws `DataDirInUse` at once (never waits). */
  static acquire(dataDir: string): DataDirLock {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // timeout 0: a held lock is an answer, not something to wait for.
    const db = new Database(join(dataDir, LOCK_FILE), { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      // The write takes the exclusive lock, which exclusive locking mode keeps after the commit.
      db.exec('BEGIN EXCLUSIVE');
      db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since TEXT NOT NULL)');
      db.exec('DELETE FROM holder');
      db.prepare('INSERT INTO holder (pid, since) VALUES (?, ?)').run(process.pid, new Date().toISOString());
      db.exec('COMMIT');
    } catch (err) {
      db.close();
      if (isBusy(err)) throw new DataDirInUse(dataDir);
      throw err;
    }
    return new DataDirLock(db, dataDir);
  }

  /** Gives the lock back (the process's exit does the same); idempotent. */
  release(): void {
    if (this.db.open) this.db.close();
  }
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}
