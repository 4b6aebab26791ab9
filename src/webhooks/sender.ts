import type { IncomingHttpHeaders } from 'node:http';
import { Agent, type Dispatcher } from 'undici';

/** How one attempt ended: a 2xx, or why not (with the receiver's Retry-After, if any). */
export type Outcome = { ok: true; status: number } | { ok: false; status: number | null; error: string; retryAfter?: string };

/** One POST under way: how it ends, and a way to end it early (shutdown). */
export interface Attempt {
  readonly outcome: Promise<Outcome>;
  abort(): void;
}

const HEADERS_BASE = { 'content-type': 'application/json', 'user-agent': 'legway-webhook' } as const;

/**
 * One POST as an undici dispatch handler. It takes the status and Retry-After and lets the body go
 * by: cheaper than `request()`, which builds a body stream, an AbortSignal listener and a promise
 * chain for every attempt, when all a delivery needs is how it ended.
 */
class AttemptHandler implements Dispatcher.DispatchHandler, Attempt {
  readonly outcome: Promise<Outcome>;
  private resolve!: (outcome: Outcome) => void;
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private retryAfter: string | undefined;
  /** Why it was ended early: 'timeout' or 'abort' (shutdown). */
  private ended: 'timeout' | 'abort' | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly timeoutMs: number) {
    this.outcome = new Promise((resolve) => (this.resolve = resolve));
    this.timer = setTimeout(() => this.end('timeout'), timeoutMs);
    this.timer.unref();
  }

  abort(): void {
    this.end('abort');
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Ended while it waited for a connection.
    if (this.ended !== undefined) controller.abort(new Error(this.ended));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.status = statusCode;
    const retryAfter = headers['retry-after'];
    this.retryAfter = typeof retryAfter === 'string' ? retryAfter : undefined;
  }

  onResponseData(): void {
    // The receiver's answer body is not ours to keep; reading it on keeps the connection reusable.
  }

  onResponseEnd(): void {
    clearTimeout(this.timer);
    const { status } = this;
    if (status >= 200 && status < 300) this.resolve({ ok: true, status });
    else this.resolve({ ok: false, status, error: `HTTP ${status}`, ...(this.retryAfter !== undefined && { retryAfter: this.retryAfter }) });
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    clearTimeout(this.timer);
    const reason = this.ended === 'timeout' ? `no answer within ${this.timeoutMs} ms` : err.message || 'request failed';
    this.resolve({ ok: false, status: null, error: reason.slice(0, 300) });
  }

  private end(why: 'timeout' | 'abort'): void {
    if (this.ended !== undefined) return;
    this.ended = why;
    this.controller?.abort(new Error(why === 'timeout' ? `no answer within ${this.timeoutMs} ms` : 'aborted by shutdown'));
  }
}

/**
 * Makes delivery attempts: one signed POST of an entry's exact payload per call, over a pool of
 * keep-alive connections as large as the dispatcher's concurrency.
 */
export class WebhookSender {
  private readonly agent: Agent;
  private readonly origin: string;
  private readonly path: string;

  constructor(
    url: string,
    private readonly options: { timeoutMs: number; connections: number },
  ) {
    const target = new URL(url);
    this.origin = target.origin;
    this.path = `${target.pathname}${target.search}`;
    this.agent = new Agent({
      connections: options.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: { timeout: options.timeoutMs },
    });
  }

  /** POSTs `payload` signed with `token`, within the attempt's time limit; the attempt can be aborted (shutdown). */
  send(payload: string, token: string): Attempt {
    const attempt = new AttemptHandler(this.options.timeoutMs);
    this.agent.dispatch(
      { origin: this.origin, path: this.path, method: 'POST', body: payload, headers: { ...HEADERS_BASE, authorization: `Bearer ${token}` } },
      attempt,
    );
    return attempt;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
