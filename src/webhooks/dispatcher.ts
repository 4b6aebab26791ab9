import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { WebhookConfig } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { OutboxEntry, OutboxRepo } from '../store/outboxRepo.js';
import { decide } from './retryPolicy.js';
import type { WebhookSigner } from './signer.js';

export interface DispatcherDeps {
  url: string;
  outbox: OutboxRepo;
  signer: WebhookSigner;
  config: WebhookConfig;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
  random?: () => number;
}

type Outcome = { ok: true; status: number } | { ok: false; status: number | null; error: string; retryAfter?: string };

/**
 * Delivers the outbox: at most `concurrency` POSTs at once, at most one per conversation (so each
 * conversation's events arrive in id order), retries on its schedule, parks what it gives up on.
 * A conversation whose receiver is slow or failing holds up only itself.
 */
export class WebhookDispatcher {
  private readonly agent: Agent;
  private readonly inFlight = new Map<string, AbortController>();
  private readonly now: () => number;
  private readonly random: () => number;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private pumpQueued = false;
  private stopped = false;
  private readonly settled = new Set<Promise<void>>();

  constructor(private readonly deps: DispatcherDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.agent = new Agent({
      connections: deps.config.concurrency,
      keepAliveTimeout: 30_000,
      headersTimeout: deps.config.timeoutMs,
      bodyTimeout: deps.config.timeoutMs,
      connect: { timeout: deps.config.timeoutMs },
    });
  }

  /** Starts delivering what the outbox holds (including what a previous run left behind). */
  start(): void {
    this.kick();
  }

  /** Something was enqueued or became possible: look for work soon (coalesced). */
  kick(): void {
    if (this.stopped || this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Stops taking work, aborts attempts in flight (they stay queued and are retried on the next start). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    for (const controller of this.inFlight.values()) controller.abort();
    await Promise.allSettled([...this.settled]);
    await this.agent.close();
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  private pump(): void {
    if (this.stopped) return;
    const free = this.deps.config.concurrency - this.inFlight.size;
    if (free > 0) {
      const now = this.now();
      let started = 0;
      // Heads of conversations already in flight come back too; ask for enough to skip them.
      for (const entry of this.deps.outbox.due(now, free + this.inFlight.size)) {
        if (started >= free) break;
        if (this.inFlight.has(entry.conversation_id)) continue;
        started++;
        this.launch(entry);
      }
    }
    this.schedule();
  }

  /** Wakes up when the earliest waiting retry becomes due. */
  private schedule(): void {
    const at = this.deps.outbox.nextDueAt(this.now());
    if (at === undefined || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timerAt = Infinity;
        this.pump();
      },
      Math.max(0, at - this.now()),
    );
    this.timer.unref();
  }

  private launch(entry: OutboxEntry): void {
    const controller = new AbortController();
    this.inFlight.set(entry.conversation_id, controller);
    const done = this.attempt(entry, controller.signal)
      .then((outcome) => this.settle(entry, outcome))
      .catch((err: unknown) => this.deps.logger.error({ err, seq: entry.seq }, 'webhook bookkeeping failed'))
      .finally(() => {
        this.inFlight.delete(entry.conversation_id);
        this.settled.delete(done);
        this.kick();
      });
    this.settled.add(done);
  }

  private async attempt(entry: OutboxEntry, signal: AbortSignal): Promise<Outcome> {
    const timeout = AbortSignal.timeout(this.deps.config.timeoutMs);
    try {
      const res = await request(this.deps.url, {
        method: 'POST',
        body: entry.payload,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await this.deps.signer.sign(entry.payload)}`,
          'user-agent': 'legway-webhook',
        },
        dispatcher: this.agent,
        signal: AbortSignal.any([signal, timeout]),
      });
      // The receiver's answer body is not ours to keep; drain it so the connection is reused.
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, status: res.statusCode };
      const retryAfter = res.headers['retry-after'];
      return {
        ok: false,
        status: res.statusCode,
        error: `HTTP ${res.statusCode}`,
        ...(typeof retryAfter === 'string' && { retryAfter }),
      };
    } catch (err) {
      const reason = timeout.aborted ? `no answer within ${this.deps.config.timeoutMs} ms` : err instanceof Error ? err.message : 'request failed';
      return { ok: false, status: null, error: reason.slice(0, 300) };
    }
  }

  private settle(entry: OutboxEntry, outcome: Outcome): void {
    const { outbox, metrics, logger } = this.deps;
    const now = this.now();
    if (this.stopped) return; // Aborted by shutdown: the entry stays as it was, to be sent again.
    if (outcome.ok) {
      outbox.delivered(entry.seq);
      metrics.webhookDelivered.inc();
      metrics.webhookLatency.observe((now - entry.created_at) / 1000);
      return;
    }
    const verdict = decide({
      attempt: entry.attempts + 1,
      status: outcome.status,
      retryAfter: outcome.retryAfter,
      now,
      windowStart: entry.window_start,
      schedule: { baseMs: this.deps.config.retryBaseMs, maxMs: this.deps.config.retryMaxMs, giveUpAfterMs: this.deps.config.giveUpAfterMs },
      random: this.random,
    });
    const log = logger.child({ conversation_id: entry.conversation_id, event_id: entry.event_id, attempt: entry.attempts + 1 });
    if (verdict.retry) {
      outbox.retryLater(entry.seq, now + verdict.delayMs, outcome.status, outcome.error);
      metrics.webhookRetried.inc();
      log.debug({ status: outcome.status, error: outcome.error, delay_ms: verdict.delayMs }, 'webhook delivery failed; will retry');
    } else {
      outbox.park(entry.seq, now, outcome.status, `${outcome.error}; ${verdict.reason}`);
      metrics.webhookFailed.inc();
      log.warn({ status: outcome.status, error: outcome.error, reason: verdict.reason }, 'webhook delivery parked as failed');
    }
  }
}
