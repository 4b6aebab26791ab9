import type { Logger } from 'pino';
import type { WebhookConfig } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { EventsRepo } from '../store/eventsRepo.js';
import type { LanesRepo } from '../store/lanesRepo.js';
import type { OutboxRepo } from '../store/outboxRepo.js';
import type { Delivery } from './delivery.js';
import { LaneReader } from './laneReader.js';
import { ReadAhead } from './readAhead.js';
import { ReadyHeads, type ReadyHead } from './readyHeads.js';
import { decide } from './retryPolicy.js';
import type { Outcome } from './sender.js';
import { WebhookSenderThread } from './senderThread.js';
import { SettlementBatch, type Transact } from './settlements.js';

export interface DispatcherDeps {
  url: string;
  lanes: LanesRepo;
  /** Parked and replayed deliveries. */
  outbox: OutboxRepo;
  /** The event log, read after each lane's cursor. */
  events: EventsRepo;
  /** Whether the webhook takes events of this type. */
  wants: (type: string) => boolean;
  /** The store's transaction: each pump writes the bookkeeping collected since the last in one. */
  transaction: Transact;
  /** The HS256 key and the application id that each attempt's token is signed with. */
  signing: { secret: string; applicationId: string };
  config: WebhookConfig;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
  random?: () => number;
  /**
   * Whether every event this connection can read is already durable (PostgreSQL: a reader sees
   * committed rows only, whichever node wrote them), so no delivery waits for a local commit.
   */
  readsOnlyDurable?: boolean;
}

/** A conversation's deliveries to send one after another, its head first. */
type Run = [Delivery, ...Delivery[]];

/**
 * Settled attempts that make a pump write them at once, rather than after WRITE_DELAY_MS. A write's
 * cost is mostly the index pages it touches, one or two per conversation whatever the count, so
 * larger batches cost less per delivery: 250 deletes cost a third per delete of what 50 do.
 */
const WRITE_BATCH = 512;
/** Longest a settled attempt waits to be written while deliveries are in flight (the re-delivery window of a crash). */
const WRITE_DELAY_MS = 50;
/**
 * How often a dispatcher with a free slot reads the due heads even when nothing said there may be
 * new ones: a wake-up missed for any reason (a bug, a clock step) then delays a delivery by at most
 * this, never strands it. One index seek a second.
 */
const SWEEP_MS = 1000;
/** Due lanes each read takes beyond those in flight, as slot-fillers until the next read. */
const READ_AHEAD_PER_SLOT = 8;
/**
 * Deliveries one look-ahead reads from a conversation's queue, and so the most a run sends after
 * its head. Each run's end is a round trip through this thread (outcomes in, the next run out);
 * with a backlog, lanes of 32 instead of 8 raised delivery at 10,000 events/s offered from about
 * 6,000 to about 8,000 a second here (benchmark 4c), and 64 did no better.
 */
const LOOK_AHEAD = 32;
/** Deliveries read ahead and kept for conversations waiting for a slot, all conversations together (see ReadAhead). */
const UPCOMING_BUDGET = 4096;

/**
 * Delivers the webhook lanes: at most `concurrency` POSTs at once, at most one per conversation (so
 * each conversation's events arrive in id order), retries on its schedule, parks what it gives up
 * on. A conversation whose receiver is slow or failing holds up only itself.
 *
 * A pump writes the outcomes settled since the last one (one transaction) and, when only a read can
 * tell what is due, reads the oldest due lanes. A freed slot goes to the oldest lane known, which
 * may be the conversation that just freed it, without waiting for a pump. Pumps run when there may
 * be newly due lanes (an append, a replay, a retry falling due) and a slot to give them, when the
 * known lanes run out, and to write outcomes: at once when nothing is in flight any more, otherwise
 * once WRITE_BATCH are waiting or after WRITE_DELAY_MS.
 *
 * A slot runs a conversation's head and up to LOOK_AHEAD deliveries after it (read in one query, or
 * kept from the query before), handed to the sender thread (WebhookSenderThread), which signs and
 * POSTs each as soon as the one before it was accepted and stops at the first that is not. So a
 * conversation with a backlog goes from one delivery to the next without the main thread on the
 * way; it records each outcome as it comes back, and picks the conversation's next head when the
 * run ends.
 */
export class WebhookDispatcher {
  private readonly sender: WebhookSenderThread;
  private readonly settlements: SettlementBatch;
  private readonly reader: LaneReader;
  private readonly ready = new ReadyHeads();
  /** Conversations with a run in flight. */
  private readonly inFlight = new Set<string>();
  /** The deliveries after a conversation's known head, in order, read ahead when its last run ended. */
  private readonly upcoming = new ReadAhead(UPCOMING_BUDGET);
  /** Counts replays: a run started before one may not hold what comes next any more. */
  private epoch = 0;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly readAhead: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAt = Infinity;
  private writeTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  private stopped = false;
  private started = false;
  /** The lanes may have due heads no read has seen: a start, a replay, a retry falling due. */
  private fresh = true;
  private idle: (() => void) | undefined;

  constructor(private readonly deps: DispatcherDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.readAhead = deps.config.concurrency * READ_AHEAD_PER_SLOT;
    this.sender = new WebhookSenderThread(
      { url: deps.url, timeoutMs: deps.config.timeoutMs, connections: deps.config.concurrency, ...deps.signing },
      deps.logger,
    );
    this.settlements = new SettlementBatch(deps.lanes, deps.outbox, deps.transaction, this.now);
    this.reader = new LaneReader({ ...deps, settlements: this.settlements, now: this.now });
  }

  /** Starts delivering what the lanes hold (including what a previous run left behind). */
  start(): void {
    this.started = true;
    this.sender.start();
    clearInterval(this.sweepTimer);
    this.sweepTimer = setInterval(() => this.poke(), SWEEP_MS);
    this.sweepTimer.unref();
    this.kick();
  }

  /** The queues changed (a replay): forget the lanes read so far and look again soon. */
  kick(): void {
    // A delivery read ahead before a replay may no longer be next.
    this.epoch++;
    this.upcoming.clear();
    this.ready.clear();
    this.fresh = true;
    this.schedulePump();
  }

  /** Look for due lanes soon, if a slot is free (other nodes of a cluster may have appended). */
  poke(): void {
    if (this.inFlight.size >= this.deps.config.concurrency) return;
    this.fresh = true;
    this.schedulePump();
  }

  /**
   * Event `id` of a conversation is being appended, in its transaction (and so, in a cluster, also
   * on this node): it is not sent before `enqueued` says it is on disk.
   */
  appending(conversationId: string, id: number): void {
    if (!this.deps.readsOnlyDurable) this.reader.appending(conversationId, id);
  }

  /**
   * Event `id`, queued at `at`, is durable. Behind an attempt in flight or a known head, it is found
   * when its turn comes; otherwise its lane may be newly due: known lanes due before it still go
   * first, and a read finds it when they run out, or at once if a slot is free.
   */
  enqueued(conversationId: string, id: number, at: number): void {
    this.reader.durable(conversationId, id);
    if (this.inFlight.has(conversationId) || this.ready.has(conversationId)) return;
    this.ready.queuedAt(at);
    if (this.inFlight.size < this.deps.config.concurrency) this.schedulePump();
  }

  /** Stops taking work, aborts attempts in flight (they stay queued and are retried on the next start). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.writeTimer);
    clearInterval(this.sweepTimer);
    // Fails what is in flight (each stays queued); waiting for those attempts to settle lets what
    // was delivered before the stop be written now, so it is not sent again after a restart.
    const closed = this.sender.abortAll();
    if (this.inFlight.size > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    this.upcoming.clear();
    this.writeSettlements();
    await closed;
  }

  /**
   * Writes the outcomes settled so far (they are batched while deliveries are in flight), so that a
   * read of the queues that follows sees every park and retry already decided.
   */
  writeOutcomes(): void {
    this.writeSettlements();
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Deliveries read ahead and held for conversations waiting for a slot (at most UPCOMING_BUDGET). */
  get readAheadCount(): number {
    return this.upcoming.size;
  }

  /** The queue depths, counting outcomes settled but not written yet as they will be. */
  queueDepth(): { pending: number; failed: number } {
    const { left, parked } = this.settlements.effect();
    return { pending: this.deps.lanes.pending() - left, failed: this.deps.outbox.failedCount() + parked };
  }

  private schedulePump(): void {
    // Nothing goes out before start(): in a cluster, only the node that delivers for all starts.
    if (this.stopped || !this.started || this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.stopped) return;
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    this.writeSettlements();
    // The lanes known cover every due one unless something may have changed unseen (fresh) or a read
    // stopped at its limit: then read again.
    if (this.fresh || this.ready.needsRead) this.read();
    this.fill();
  }

  /** Reads the oldest due lanes (keeping the heads of those already known) and when the next retry falls due. */
  private read(): void {
    // Lanes in flight come back too: read past them.
    const limit = this.inFlight.size + this.readAhead;
    const rows = this.deps.lanes.due(this.now(), limit);
    const last = rows.length === limit ? rows.at(-1) : undefined;
    this.ready.replace(
      rows
        .filter((row) => !this.inFlight.has(row.conversation_id))
        .map((row) => ({ conversation_id: row.conversation_id, lane: row.lane, next_attempt_at: row.next_attempt_at, row })),
      last,
    );
    this.fresh = false;
    this.scheduleRetry(this.deps.lanes.nextDueAt(this.now()));
  }

  /** Gives free slots to the oldest known lanes; asks for a read when only one can tell what is next. */
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

  /** Starts a run: the lane's head and the deliveries known (or read) to follow it. */
  private launch(head: ReadyHead): void {
    const conversationId = head.conversation_id;
    let deliveries: Delivery[];
    if (head.entry !== undefined) {
      const known = this.upcoming.of(conversationId);
      deliveries = [head.entry, ...(known.length > 0 ? known : this.reader.after(head.entry, LOOK_AHEAD))];
    } else if (head.row !== undefined) {
      deliveries = this.reader.head(head.row, LOOK_AHEAD + 1);
    } else deliveries = [];
    this.upcoming.drop(conversationId);
    const [first, ...rest] = deliveries;
    if (first === undefined) return;
    this.inFlight.add(conversationId);
    void this.run([first, ...rest], head.lane, this.epoch);
  }

  /**
   * Sends a run (a conversation's head, then the deliveries after it while each is accepted) on the
   * sender thread, recording each outcome as it comes back; when the run ends with its last attempt
   * out of the queue (delivered or parked), the conversation's next delivery becomes its head.
   */
  private async run(run: Run, lane: number, epoch: number): Promise<void> {
    const conversationId = run[0].conversation_id;
    // The run's last attempt so far, and whether it left the queue.
    const last: { delivery?: Delivery; sent: number; left: boolean } = { sent: 0, left: false };
    try {
      const payloads = run.map((delivery) => delivery.payload);
      await this.sender.sendInOrder(payloads, this.now() - Date.now(), (index, outcome) => {
        const delivery = run[index];
        if (delivery === undefined) return;
        Object.assign(last, { delivery, sent: index + 1, left: this.settle(delivery, outcome) });
        if (!this.stopped) this.writeTimer ??= setTimeout(() => this.schedulePump(), WRITE_DELAY_MS);
      });
      this.inFlight.delete(conversationId);
      if (last.left && last.delivery !== undefined && !this.stopped) this.follow(last.delivery, run.slice(last.sent), lane, epoch);
    } catch (err) {
      this.inFlight.delete(conversationId);
      this.deps.logger.error({ err, event_id: run[0].event_id }, 'webhook bookkeeping failed');
    }
    if (this.stopped) {
      if (this.inFlight.size === 0) this.idle?.();
      return;
    }
    this.fill();
    if (this.inFlight.size === 0 || this.settlements.size >= WRITE_BATCH) this.schedulePump();
  }

  /**
   * `delivery` left its conversation's queue: that conversation's next delivery, if any, is its head
   * now. `rest` are the deliveries of its run that were not sent; they follow unless a replay came
   * since the run started (it may have put an older delivery back), and then the store is asked.
   */
  private follow(delivery: Delivery, rest: Delivery[], lane: number, epoch: number): void {
    const conversationId = delivery.conversation_id;
    let next: Delivery[];
    if (epoch !== this.epoch) next = this.reader.queued(conversationId, LOOK_AHEAD + 1);
    else next = rest.length > 0 ? rest : this.reader.after(delivery, LOOK_AHEAD + 1);
    const [head, ...after] = next;
    if (head === undefined) return;
    this.upcoming.keep(conversationId, after);
    this.ready.add({ conversation_id: conversationId, lane, next_attempt_at: this.now(), entry: head });
  }

  /** Records the outcome; returns whether the delivery left its conversation's queue (delivered or parked). */
  private settle(delivery: Delivery, outcome: Outcome): boolean {
    const { metrics, logger } = this.deps;
    const now = this.now();
    if (outcome.ok) {
      // Accepted, even during a shutdown: written by stop(), so it is not sent again.
      this.settlements.add({ kind: 'delivered', delivery });
      metrics.webhookDelivered.inc();
      metrics.webhookLatency.observe((now - delivery.created_at) / 1000);
      return true;
    }
    if (this.stopped) return false; // Aborted by shutdown: the delivery stays as it was, to be sent again.
    const verdict = decide({
      attempt: delivery.attempts + 1,
      status: outcome.status,
      retryAfter: outcome.retryAfter,
      now,
      windowStart: delivery.window_start,
      schedule: { baseMs: this.deps.config.retryBaseMs, maxMs: this.deps.config.retryMaxMs, giveUpAfterMs: this.deps.config.giveUpAfterMs },
      random: this.random,
    });
    const log = logger.child({ conversation_id: delivery.conversation_id, event_id: delivery.event_id, attempt: delivery.attempts + 1 });
    if (verdict.retry) {
      const next = now + verdict.delayMs;
      this.settlements.add({ kind: 'retry', delivery, next, status: outcome.status, error: outcome.error });
      this.scheduleRetry(next);
      metrics.webhookRetried.inc();
      log.debug({ status: outcome.status, error: outcome.error, delay_ms: verdict.delayMs }, 'webhook delivery failed; will retry');
      return false;
    }
    this.settlements.add({ kind: 'park', delivery, at: now, status: outcome.status, error: `${outcome.error}; ${verdict.reason}` });
    metrics.webhookFailed.inc();
    log.warn({ status: outcome.status, error: outcome.error, reason: verdict.reason }, 'webhook delivery parked as failed');
    return true;
  }
}
