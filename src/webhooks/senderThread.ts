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

/** One attempt: its id (to match the outcome), the exact payload, and the time to sign it with (ms). */
export type Attempt = [id: number, payload: string, now: number];

/** To the thread: attempts to make (every one gets an outcome), or a shutdown. */
export type ToSenderThread = { kind: 'send'; attempts: Attempt[] } | { kind: 'close' };
/** From the thread: outcomes of attempts, or that a shutdown finished (every outcome sent before it). */
export type FromSenderThread = { kind: 'settled'; outcomes: [id: number, outcome: Outcome][] } | { kind: 'closed' };

/**
 * Makes the dispatcher's delivery attempts on a worker thread of their own: signing (SHA-256 of the
 * body, an HMAC, base64) and the HTTP client (undici's request, socket writes, the response parser)
 * are about two thirds of a delivery's CPU, and here they leave the event loop that runs calls,
 * the store and the dispatcher's bookkeeping. Attempts made in one turn go over in one message, and
 * the outcomes settled in one of the thread's turns come back in one.
 *
 * The thread starts with the first attempt. If it dies, its attempts in flight fail (and are
 * retried on their schedule) and the next attempt starts a new thread.
 */
export class WebhookSenderThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, (outcome: Outcome) => void>();
  private outgoing: Attempt[] = [];
  private flushQueued = false;
  private closing: Promise<void> | undefined;
  private readonly flush = (): void => this.sendQueued();

  constructor(
    private readonly options: SenderThreadOptions,
    private readonly logger: Logger,
  ) {}

  /** Signs `payload` as of `now` (ms) and POSTs it; resolves with how that ended (never rejects). */
  send(payload: string, now: number): Promise<Outcome> {
    if (this.closing !== undefined) return Promise.resolve(failed('the gateway is shutting down'));
    const id = this.nextId++;
    this.outgoing.push([id, payload, now]);
    if (!this.flushQueued) {
      this.flushQueued = true;
      // After the microtasks of this turn: every attempt their continuations make goes in one message.
      process.nextTick(this.flush);
    }
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }

  /** Fails every attempt in flight (they stay queued) and stops the thread; resolves once it is gone. */
  abortAll(): Promise<void> {
    this.closing ??= this.close();
    return this.closing;
  }

  private async close(): Promise<void> {
    for (const [id] of this.outgoing.splice(0)) this.settle(id, failed('the gateway is shutting down'));
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
    const attempts = this.outgoing;
    this.outgoing = [];
    this.thread().postMessage({ kind: 'send', attempts } satisfies ToSenderThread);
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
      if (message.kind === 'settled') for (const [id, outcome] of message.outcomes) this.settle(id, outcome);
    });
    worker.on('error', (err) => this.logger.error({ err }, 'webhook sender thread failed'));
    worker.on('exit', (code) => {
      this.worker = undefined;
      if (this.waiting.size === 0) return;
      if (this.closing === undefined) this.logger.error({ code, in_flight: this.waiting.size }, 'webhook sender thread stopped; its attempts are retried');
      for (const id of [...this.waiting.keys()]) this.settle(id, failed('the webhook sender thread stopped'));
    });
    // Attempts in flight do not keep a gateway alive that is otherwise done (they are made again).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private settle(id: number, outcome: Outcome): void {
    const resolve = this.waiting.get(id);
    if (resolve === undefined) return;
    this.waiting.delete(id);
    resolve(outcome);
  }
}

function failed(error: string): Outcome {
  return { ok: false, status: null, error };
}
