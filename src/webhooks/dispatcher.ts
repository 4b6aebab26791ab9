import type { Logger } from 'pino';
import type { WebhookConfig } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { OutboxEntry, OutboxRepo } from '../store/outboxRepo.js';
import { Lanes } from './lanes.js';
import { ReadyHeads, type ReadyHead } from './readyHeads.js';
import { decide } from './retryPolicy.js';
import { WebhookSender, type Attempt, type Outcome } from './sender.js';
import { SettlementBatch, type Transact } from './settlements.js';
import type { WebhookSigner } from './signer.js';

export interface DispatcherDeps {
  url: string;
  outbox: OutboxRepo;
  /** The store's transaction: each pump writes the bookkeeping collected since the last in one. */
  transaction: Transact;
  signer: WebhookSigner;
  config: WebhookConfig;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
  random?: () => number;
}

/**
 * Settled attempts that make a pump write them at once, rather than after WRITE_DELAY_MS. A batch's
 * cost is mostly the index pages it dirties, shared by the deletes that land on them: about 58 µs
 * of CPU a delivery in batches of 40, 34 in batches of 128, 14 in batches of 512 (measured here).
 */
const WRITE_BATCH = 512;
/**
 * Longest a settled attempt waits to be written while deliveries are in flight: the re-delivery
 * window of a crash (at-least-once: what was delivered in it is sent again after a restart).
 * Nothing in flight, the write comes at once.
 */
const WRITE_DELAY_MS = 50;
/** Due heads each read takes beyond those in flight, as slot-fillers until the next read. */
const READ_AHEAD_PER_SLOT = 8;

/**
 * Delivers the outbox: at most `concurrency` POSTs at once, at most one per conversation (so each
 * conversation's events arrive in id order), retries on its schedule, parks what it gives up on.
 * A conversation whose receiver is slow or failing holds up only itself.
 *
 * Each conversation's pending entries are held in memory (lanes.ts) as they are queued, so a freed
 * slot goes to the oldest head known, often the next entry of the conversation that just freed it,
 * with no query on its way. A pump writes the outcomes settled since the last one (one transaction)
 * and, when heads may be unknown (a start, a replay, a retry falling due, an entry whose lane cannot
 * tell, the known heads running out), reads the oldest due heads. Outcomes are written at once when
 * nothing is in flight any more, otherwise once WRITE_BATCH are waiting or after WRITE_DELAY_MS.
 *
 * Each attempt is signed as it starts (a synchronous HMAC, a few microseconds), so its `iat` is its own.
 */
export class WebhookDispatcher {
  private readonly sender: WebhookSender;
  private readonly settlements: SettlementBatch;
  private readonly ready = new ReadyHeads();
  private readonly lanes: Lanes;
  /** Attempts in flight, by conversation. */
  private readonly inFlight = new Map<string, Attempt>();
  /**
   * The highest outbox seq known to be durable. With group commit, this connection sees entries
   * before their commit is on disk; one sent then could be lost in a crash after the receiver took
   * it, and its event id given to another event. Entries above the mark are left for later.
   */
  private durableSeq: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly readAhead: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAt = Infinity;
  private writeTimer: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  private fillQueued = false;
  private stopped = false;
  /** The outbox may have due heads no read has seen: a start, a replay, a retry falling due. */
  private fresh = true;
  private idle: (() => void) | undefined;

  constructor(private readonly deps: DispatcherDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.readAhead = deps.config.concurrency * READ_AHEAD_PER_SLOT;
    // Built before anything can be queued in this process: what the outbox holds is on disk.
    this.durableSeq = deps.outbox.lastSeq();
    this.sender = new WebhookSender(deps.url, { timeoutMs: deps.config.timeoutMs, connections: deps.config.concurrency });
    this.settlements = new SettlementBatch(deps.outbox, deps.transaction);
    this.lanes = new Lanes((conversationId, after, limit) => this.readPending(conversationId, after, limit));
  }

  /** Starts delivering what the outbox holds (including what a previous run left behind). */
  start(): void {
    this.kick();
  }

  /** The outbox changed (a replay): forget the heads read so far and look again soon. */
  kick(): void {
    this.lanes.clear();
    this.ready.clear();
    this.fresh = true;
    this.schedulePump();
  }

  /**
   * `entry` is durable. Behind entries its lane knows, it is taken when its turn comes; heading a
   * queue its lane knew to be empty, it is a known head at once. Otherwise it may be a new head:
   * known heads due before it still go first, and a read finds it when they run out, or at once if
   * a slot is free.
   */
  enqueued(entry: OutboxEntry): void {
    const { conversation_id: conversationId, seq } = entry;
    this.durableSeq = Math.max(this.durableSeq, seq);
    const place = this.lanes.queued(entry);
    if (place === 'behind' || this.inFlight.has(conversationId) || this.ready.has(conversationId)) return;
    if (place === 'head') {
      // Known: it goes out at the end of this turn if a slot is free, without a pump (whose write would
      // cut a batch short). Not at once: this runs among a commit's callbacks, which must not throw.
      this.ready.add({ seq, conversation_id: conversationId, next_attempt_at: entry.next_attempt_at, entry });
      if (this.inFlight.size < this.deps.config.concurrency) this.scheduleFill();
      return;
    }
    this.ready.queuedAt(entry.next_attempt_at);
    if (this.inFlight.size < this.deps.config.concurrency) this.schedulePump(true);
  }

  /** Stops taking work, aborts attempts in flight (they stay queued and are retried on the next start). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.writeTimer);
    for (const attempt of this.inFlight.values()) attempt.abort();
    if (this.inFlight.size > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    this.lanes.clear();
    // What was delivered before the stop is written now, so it is not sent again after a restart.
    this.writeSettlements();
    await this.sender.close();
  }

  /**
   * Writes the outcomes settled so far (they are batched while deliveries are in flight), so that a
   * read of the outbox that follows sees every park and retry already decided.
   */
  writeOutcomes(): void {
    this.writeSettlements();
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** The outbox's queue depths, counting outcomes settled but not written yet as they will be. */
  queueDepth(): { pending: number; failed: number } {
    const counts = this.deps.outbox.counts();
    const { left, parked } = this.settlements.effect();
    return { pending: counts.pending - left, failed: counts.failed + parked };
  }

  /** Runs a pump at the end of this event-loop turn; `read` asks it to read the due heads whatever it knows. */
  private schedulePump(read = false): void {
    if (read) this.fresh = true;
    if (this.stopped || this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Gives free slots to known heads at the end of this event-loop turn (a pump does that too). */
  private scheduleFill(): void {
    if (this.stopped || this.fillQueued || this.pumpQueued) return;
    this.fillQueued = true;
    setImmediate(() => {
      this.fillQueued = false;
      if (!this.stopped) this.fill();
    });
  }

  private pump(): void {
    if (this.stopped) return;
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    this.writeSettlements();
    if (this.fresh || this.ready.needsRead) {
      // Heads of conversations in flight come back too: read past them.
      const limit = this.inFlight.size + this.readAhead;
      const rows = this.deps.outbox.due(this.now(), limit);
      this.ready.replace(
        rows.filter((head) => head.seq <= this.durableSeq && !this.inFlight.has(head.conversation_id)),
        rows.length === limit ? rows.at(-1) : undefined,
      );
      this.fresh = false;
      this.scheduleRetry(this.deps.outbox.nextDueAt(this.now()));
    }
    this.fill();
  }

  /** Gives free slots to the oldest known heads; asks for a read when only one can tell what is next. */
  private fill(): void {
    const { concurrency } = this.deps.config;
    while (this.inFlight.size < concurrency) {
      const head = this.ready.take();
      if (head === undefined) break;
      this.launch(head);
    }
    if (this.inFlight.size < concurrency && (this.fresh || this.ready.needsRead)) this.schedulePump();
  }

  private writeSettlements(): void {
    try {
      this.settlements.write();
    } catch (err) {
      this.deps.logger.error({ err }, 'webhook bookkeeping failed; those deliveries will be made again');
    }
  }

  /** Wakes a pump when the earliest waiting retry becomes due. */
  private scheduleRetry(at: number | undefined): void {
    if (at === undefined || at >= this.retryAt || this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryAt = at;
    this.retryTimer = setTimeout(
      () => {
        this.retryAt = Infinity;
        this.fresh = true;
        this.pump();
      },
      Math.max(0, at - this.now()),
    );
    this.retryTimer.unref();
  }

  private launch(head: ReadyHead): void {
    const entry = this.entryOf(head);
    if (entry?.state !== 'pending') return;
    const attempt = this.sender.send(entry.payload, this.deps.signer.sign(entry.payload, new Date(this.now())));
    this.inFlight.set(entry.conversation_id, attempt);
    void this.run(entry, attempt);
  }

  /** The entry of a head, as its lane holds it (read from the outbox when the lane disagrees). */
  private entryOf(head: ReadyHead): OutboxEntry | undefined {
    const known = this.lanes.head(head.conversation_id);
    if (known?.seq === head.seq) return known;
    this.lanes.forget(head.conversation_id);
    return this.deps.outbox.get(head.seq);
  }

  private async run(entry: OutboxEntry, attempt: Attempt): Promise<void> {
    try {
      const outcome = await attempt.outcome;
      this.inFlight.delete(entry.conversation_id);
      if (this.settle(entry, outcome) && !this.stopped) this.follow(entry);
    } catch (err) {
      if (this.inFlight.get(entry.conversation_id) === attempt) this.inFlight.delete(entry.conversation_id);
      this.deps.logger.error({ err, seq: entry.seq }, 'webhook bookkeeping failed');
    }
    if (this.stopped) {
      if (this.inFlight.size === 0) this.idle?.();
      return;
    }
    this.fill();
    if (this.inFlight.size === 0 || this.settlements.size >= WRITE_BATCH) this.schedulePump();
    else this.writeTimer ??= setTimeout(() => this.schedulePump(), WRITE_DELAY_MS);
  }

  /** `entry` left its conversation's queue: that conversation's next entry, if any, is a head now. */
  private follow(entry: OutboxEntry): void {
    const next = this.lanes.head(entry.conversation_id);
    if (next === undefined) return;
    if (next.next_attempt_at <= this.now())
      this.ready.add({ seq: next.seq, conversation_id: next.conversation_id, next_attempt_at: next.next_attempt_at, entry: next });
    else this.scheduleRetry(next.next_attempt_at);
  }

  /**
   * A conversation's durable pending entries after `after`, for its lane: those whose leaving is
   * not written yet (the outbox still shows them pending) left out, and none past the durable mark.
   */
  private readPending(conversationId: string, after: number, limit: number): { entries: OutboxEntry[]; last: number; complete: boolean } {
    const rows = this.deps.outbox.pending(conversationId, after, limit);
    const entries: OutboxEntry[] = [];
    let last = after;
    for (const row of rows) {
      // Not on disk yet: enqueued() brings it, and what follows it, when they are.
      if (row.seq > this.durableSeq) return { entries, last, complete: true };
      last = row.seq;
      if (!this.settlements.hasLeft(row.seq)) entries.push(row);
    }
    return { entries, last, complete: rows.length < limit };
  }

  /** Records the outcome; returns whether the entry left its conversation's queue (delivered or parked). */
  private settle(entry: OutboxEntry, outcome: Outcome): boolean {
    const { metrics, logger } = this.deps;
    const now = this.now();
    if (outcome.ok) {
      // Accepted, even during a shutdown: written by stop(), so it is not sent again.
      this.settlements.add({ kind: 'delivered', seq: entry.seq, conversation_id: entry.conversation_id });
      this.lanes.left(entry.conversation_id, entry.seq);
      metrics.webhookDelivered.inc();
      metrics.webhookLatency.observe((now - entry.created_at) / 1000);
      return true;
    }
    if (this.stopped) return false; // Aborted by shutdown: the entry stays as it was, to be sent again.
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
      const next = now + verdict.delayMs;
      this.settlements.add({ kind: 'retry', seq: entry.seq, conversation_id: entry.conversation_id, next, status: outcome.status, error: outcome.error });
      this.lanes.retried({ ...entry, attempts: entry.attempts + 1, next_attempt_at: next, last_status: outcome.status, last_error: outcome.error });
      this.scheduleRetry(next);
      metrics.webhookRetried.inc();
      log.debug({ status: outcome.status, error: outcome.error, delay_ms: verdict.delayMs }, 'webhook delivery failed; will retry');
      return false;
    }
    this.settlements.add({
      kind: 'park',
      seq: entry.seq,
      conversation_id: entry.conversation_id,
      at: now,
      status: outcome.status,
      error: `${outcome.error}; ${verdict.reason}`,
    });
    this.lanes.left(entry.conversation_id, entry.seq);
    metrics.webhookFailed.inc();
    log.warn({ status: outcome.status, error: outcome.error, reason: verdict.reason }, 'webhook delivery parked as failed');
    return true;
  }
}
