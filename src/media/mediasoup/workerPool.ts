import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type * as Mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import { setNice } from '../priority.js';

type MediasoupModule = typeof Mediasoup;

export interface WorkerPoolOptions {
  /** Path of the worker binary; mediasoup reads it from the environment when it is first loaded. */
  workerBin: string;
  size?: number;
  logger: Logger;
  /** Nice value each worker is given as it starts (see media/priority.ts). */
  priority?: number;
  /** Called with the routers of a worker that died, before it is replaced. */
  onWorkerDied: (routers: readonly ms.Router[]) => void;
}

/**
 * One mediasoup worker per core. Conversations are spread round-robin and stay on their worker
 * (their routers can then share it); a worker that dies is replaced and its legs are told.
 */
export class WorkerPool {
  private readonly workers: (ms.Worker | undefined)[] = [];
  private readonly routers = new Map<ms.Worker, Set<ms.Router>>();
  private readonly assignment = new Map<string, number>();
  private next = 0;
  private closed = false;
  private priorityRefused = false;

  private constructor(
    private readonly mediasoup: MediasoupModule,
    private readonly options: WorkerPoolOptions,
  ) {}

  /** Loads mediasoup with the configured worker binary and starts the workers. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    if (!existsSync(options.workerBin)) {
      throw new Error(`mediasoup worker not found at ${options.workerBin}; run \`npm ci\` (it builds one) or set LEGWAY_MEDIASOUP_WORKER`);
    }
    process.env.MEDIASOUP_WORKER_BIN = options.workerBin;
    const mediasoup = await import('mediasoup');
    const pool = new WorkerPool(mediasoup, options);
    const size = options.size ?? availableParallelism();
    for (let i = 0; i < size; i++) pool.workers.push(await pool.spawn(i));
    return pool;
  }

  /** A new router on the conversation's worker. */
  async createRouter(conversationId: string, mediaCodecs: ms.RtpCodecCapability[]): Promise<ms.Router> {
    let index = this.assignment.get(conversationId);
    if (index === undefined) {
      index = this.next++ % this.workers.length;
      this.assignment.set(conversationId, index);
    }
    const worker = this.workers[index];
    if (!worker) throw new Error('media worker unavailable');
    const router = await worker.createRouter({ mediaCodecs });
    const set = this.routers.get(worker);
    set?.add(router);
    // A worker that dies closes its routers before it reports 'died': keep them for that report.
    router.observer.once('close', () => {
      if (!worker.closed) set?.delete(router);
    });
    return router;
  }

  /** Forgets which worker a conversation used (when its last leg ends). */
  release(conversationId: string): void {
    this.assignment.delete(conversationId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const worker of this.workers) worker?.close();
    await Promise.resolve();
  }

  /** Gives a new worker the configured priority; one refusal is logged, the rest are alike. */
  private prioritise(worker: ms.Worker): void {
    const { priority, logger } = this.options;
    if (priority === undefined) return;
    const outcome = setNice(worker.pid, priority);
    if (outcome.ok || this.priorityRefused) return;
    this.priorityRefused = true;
    logger.info({ nice: priority, reason: outcome.reason }, 'mediasoup workers run at the normal priority');
  }

  private async spawn(index: number): Promise<ms.Worker> {
    const worker = await this.mediasoup.createWorker({ logLevel: 'warn' });
    this.prioritise(worker);
    this.routers.set(worker, new Set());
    worker.on('died', (err) => {
      const routers = [...(this.routers.get(worker) ?? [])];
      this.routers.delete(worker);
      this.workers[index] = undefined;
      this.options.logger.error({ err, pid: worker.pid, routers: routers.length }, 'mediasoup worker died; replacing it');
      this.options.onWorkerDied(routers);
      if (this.closed) return;
      this.spawn(index).then(
        (replacement) => {
          this.workers[index] = replacement;
        },
        (spawnErr: unknown) => this.options.logger.error({ err: spawnErr }, 'could not replace mediasoup worker'),
      );
    });
    return worker;
  }
}
