import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Outcome } from './sender.js';

/** What the thread needs to sign and send: the receiver, the agent's limits and the signing key. */
export interface SenderThreadOptions {
  url: string;
  timeoutMs: number;
  /** Keep-alive connections to the receiver (the dispatcher's concurrency). */
  connections: number;
  secret: string;
  applicationId: string;
}

/**
 * One lane: its id (to match the outcomes), the exact payloads to send one after another, and what
 * to add to the thread's clock (Date.now) to get the dispatcher's, for each attempt's `iat`.
 */
export type Lane = [id: number, payloads: string[], clockOffsetMs: number];
/** The outcome of a lane's attempt at payload `index`; `ended` on its last (what follows was not sent). */
export type LaneOutcome = [id: number, index: number, outcome: Outcome, ended: boolean];

/** To the thread: lanes to run (every one gets at least one outcome), or a shutdown. */
export type ToSenderThread = { kind: 'send'; lanes: Lane[] } | { kind: 'close' };
/** From the thread: outcomes of attempts, or that a shutdown finished (every outcome sent before it). */
export type FromSenderThread = { kind: 'settled'; outcomes: LaneOutcome[] } | { kind: 'closed' };

interface Waiting {
  onOutcome: (index: number, outcome: Outcome) => void;
  resolve: () => void;
  /** Outcomes reported so far. */
  reported: number;
}

/**
 * Makes the dispatcher's delivery attempts on a worker thread of their own: signing (SHA-256 of the
 * body, an HMAC, base64) and the HTTP client (undici's dispatch, socket writes, the response parser)
 * are about two thirds of a delivery's CPU, and here they leave the event loop that runs calls,
 * the store and the dispatcher's bookkeeping.
 *
 * The dispatcher hands over lanes: a conversation's next entries, in order. The thread sends each
 * as soon as the one before it was answered 2xx, and stops at the first that is not, so the main
 * thread is not on the way from one delivery to the next: it only records the outcomes as they come
 * back. Lanes started in one turn go over in one message, and the outcomes settled in one of the
 * thread's turns come back in one.
 *
 * The thread starts with the dispatcher (or the first attempt). If it dies, its attempts in flight fail (and are
 * retried on their schedule) and the next attempt starts a new thread.
 */
export class WebhookSenderThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private outgoing: Lane[] = [];
  private flushQueued = false;
  private closing: Promise<void> | undefined;
  private readonly flush = (): void => this.sendQueued();

  constructor(
    private readonly options: SenderThreadOptions,
    private readonly logger: Logger,
  ) {}

  /**
   * Signs and POSTs `payloads` one after another, each once the one before was answered 2xx, and stops
   * at the first that is not. `onOutcome` hears each attempt's outcome as it comes; the promise
   * resolves after the last (at least one: the first payload's). Each attempt is signed as of its
   * start on the clock that is `clockOffsetMs` ahead of Date.now().
   */
  sendInOrder(payloads: string[], clockOffsetMs: number, onOutcome: (index: number, outcome: Outcome) => void): Promise<void> {
    if (this.closing !== undefined) {
      onOutcome(0, failed('the gateway is shutting down'));
      return Promise.resolve();
    }
    const id = this.nextId++;
    this.outgoing.push([id, payloads, clockOffsetMs]);
    if (!this.flushQueued) {
      this.flushQueued = true;
      // After the microtasks of this turn: every lane their continuations start goes in one message.
      process.nextTick(this.flush);
    }
    return new Promise((resolve) => this.waiting.set(id, { onOutcome, resolve, reported: 0 }));
  }

  /** Starts the thread now, so that the first deliveries do not wait for it to load. */
  start(): void {
    if (this.closing === undefined) this.thread();
  }

  /** Fails every attempt in flight (they stay queued) and stops the thread; resolves once it is gone. */
  abortAll(): Promise<void> {
    this.closing ??= this.close();
    return this.closing;
  }

  private async close(): Promise<void> {
    for (const [id] of this.outgoing.splice(0)) this.fail(id, 'the gateway is shutting down');
    const worker = this.worker;
    if (worker === undefined) return;
    await new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.on('message', (message: FromSenderThread) => {
        if (message.kind === 'closed') void worker.terminate();
      });
      worker.postMessage({ kind: 'close' } satisfies ToSenderThread);
    });
  }

  private sendQueued(): void {
    this.flushQueued = false;
    if (this.outgoing.length === 0 || this.closing !== undefined) return;
    const lanes = this.outgoing;
    this.outgoing = [];
    this.thread().postMessage({ kind: 'send', lanes } satisfies ToSenderThread);
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
    // Run from TypeScript sources (tests, `npm run dev`): the entry is a .ts file that tsx loads,
    // imported once tsx's hooks are in place (a worker's own entry file would be loaded before them).
    const fromSources = import.meta.url.endsWith('.ts');
    const workerData = this.options;
    const worker = fromSources
      ? new Worker(
          `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./senderThreadMain.ts', import.meta.url).href)}); })`,
          { eval: true, workerData },
        )
      : new Worker(fileURLToPath(new URL('./senderThreadMain.js', import.meta.url)), { workerData });
    worker.on('message', (message: FromSenderThread) => {
      if (message.kind === 'settled') for (const [id, index, outcome, ended] of message.outcomes) this.settle(id, index, outcome, ended);
    });
    worker.on('error', (err) => this.logger.error({ err }, 'webhook sender thread failed'));
    worker.on('exit', (code) => {
      this.worker = undefined;
      if (this.waiting.size === 0) return;
      if (this.closing === undefined) this.logger.error({ code, in_flight: this.waiting.size }, 'webhook sender thread stopped; its attempts are retried');
      // What it sent but did not report is sent again (at least once); nothing after it was recorded.
      for (const id of [...this.waiting.keys()]) this.fail(id, 'the webhook sender thread stopped');
    });
    // Attempts in flight do not keep a gateway alive that is otherwise done (they are made again).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private settle(id: number, index: number, outcome: Outcome, ended: boolean): void {
    const lane = this.waiting.get(id);
    if (lane === undefined) return;
    lane.reported = index + 1;
    if (ended) this.waiting.delete(id);
    lane.onOutcome(index, outcome);
    if (ended) lane.resolve();
  }

  /** Ends a lane whose thread is gone: its next unreported attempt failed. */
  private fail(id: number, error: string): void {
    const lane = this.waiting.get(id);
    this.settle(id, lane?.reported ?? 0, failed(error), true);
  }
}

function failed(error: string): Outcome {
  return { ok: false, status: null, error };
}
