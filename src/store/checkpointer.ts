import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CheckpointReport, CheckpointWorkerData } from './checkpointWorker.js';
import type { SqliteDb } from './sqlite.js';

/** SQLite's own default: a checkpoint when the WAL passes this many pages. */
const AUTO_CHECKPOINT_PAGES = 1000;

export interface CheckpointerOptions {
  intervalMs: number;
  /** The worker failed or stopped: checkpoints are back on the main connection. */
  onFallback: (reason: string) => void;
}

/**
 * Moves WAL checkpoints off the main thread. SQLite's automatic checkpoint runs inside the commit
 * that crosses its threshold: copying the WAL into the database and syncing both, on the event loop,
 * which then misses audio ticks. Here the main connection's automatic checkpoint is off and a worker
 * thread with its own connection checkpoints on a timer. If the worker fails, the main connection
 * checkpoints again by itself, so the WAL can never grow without bound.
 */
export class Checkpointer {
  private readonly worker: Worker;
  private closed = false;
  private fellBack = false;

  constructor(
    private readonly db: SqliteDb,
    file: string,
    private readonly options: CheckpointerOptions,
  ) {
    const workerData: CheckpointWorkerData = { file, intervalMs: options.intervalMs };
    // Run from TypeScript sources (tests, `npm run dev`), tsx must be loaded before the worker's module is.
    this.worker = import.meta.url.endsWith('.ts')
      ? new Worker(
          `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./checkpointWorker.ts', import.meta.url).href)}); })`,
          { eval: true, workerData },
        )
      : new Worker(fileURLToPath(new URL('./checkpointWorker.js', import.meta.url)), { workerData });
    this.worker.unref();
    db.pragma('wal_autocheckpoint = 0');
    this.worker.on('message', (report: CheckpointReport) => {
      if (!report.ok) this.fallBack(`checkpoint failed: ${report.message}`);
    });
    this.worker.on('error', (err) => this.fallBack(`checkpoint worker failed: ${err.message}`));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.fallBack(`checkpoint worker exited with ${code}`);
    });
  }

  /** Stops the worker; the main connection checkpoints by itself again (and at close). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.restoreAutoCheckpoint();
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage('close');
    await exited;
  }

  private fallBack(reason: string): void {
    if (this.fellBack || this.closed) return;
    this.fellBack = true;
    this.restoreAutoCheckpoint();
    void this.worker.terminate();
    this.options.onFallback(reason);
  }

  private restoreAutoCheckpoint(): void {
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  }
}
