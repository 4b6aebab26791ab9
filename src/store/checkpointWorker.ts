/**
 * Worker thread of the Checkpointer: its own connection to the database, copying the WAL back into
 * the database file (a PASSIVE checkpoint: it never blocks the writer) every `intervalMs`, so the
 * main thread's commits never stop to do it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointWorkerData {
  file: string;
  intervalMs: number;
}

/** What the worker reports after each checkpoint that had work, or when it fails. */
export type CheckpointReport = { ok: true; walFrames: number; checkpointed: number } | { ok: false; message: string };

const { file, intervalMs } = workerData as CheckpointWorkerData;
const db = new Database(file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
// The checkpoint syncs the WAL before copying it and the database file after.
db.pragma('synchronous = FULL');
const checkpoint = db.prepare<[], { busy: number; log: number; checkpointed: number }>('PRAGMA wal_checkpoint(PASSIVE)');

const timer = setInterval(() => {
  try {
    const row = checkpoint.get();
    if (row && row.log > 0) parentPort?.postMessage({ ok: true, walFrames: row.log, checkpointed: row.checkpointed } satisfies CheckpointReport);
  } catch (err) {
    parentPort?.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) } satisfies CheckpointReport);
  }
}, intervalMs);

parentPort?.on('message', (message: unknown) => {
  if (message !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
