import type { Logger } from 'pino';
import type { WebhookConfig } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { OutboxEntry, OutboxRepo } from '../store/outboxRepo.js';
import { ReadAhead } from './readAhead.js';
import { ReadyHeads, type ReadyHead } from './readyHeads.js';
import { decide } from './retryPolicy.js';
import type { Outcome } from './sender.js';
import { WebhookSenderThread } from './senderThread.js';
import { SettlementBatch, type Transact } from './settlements.js';

export interface DispatcherDeps {
  url: string;
  outbox: OutboxRepo;
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
   * Whether every outbox entry this connection can read is already durable (PostgreSQL: a reader
   * sees committed rows only, whichever node wrote them), so no entry waits for a local commit.
   */
  readsOnlyDurable?: boolean;
}

/** A conversation's entries to send one after another, its head first. */
type Lane = [OutboxEntry, ...OutboxEntry[]];

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
/** Due heads each read takes beyond those in flight, as slot-fillers until the next read. */
const READ_AHEAD_PER_SLOT = 8;
/**
 * Entries one look-ahead query reads from a conversation's queue, and so the most a lane sends after
 * its head. Each lane's end is a round trip through this thread (outcomes in, the next lane out);
 * with a backlog, lanes of 32 instead of 8 raised delivery at 10,000 events/s offered from about
 * 6,000 to about 8,000 a second here (benchmark 4c), and 64 did no better.
 */
const LOOK_AHEAD = 32;
/** Entries read ahead and kept for conversations waiting for a slot, all conversations together (see ReadAhead). */
const UPCOMING_BUDGET = 4096;

/**
 * Delivers the outbox: at most `concurrency` POSTs at once, at most one per conversation (so each
 * conversation's events arrive in id order), retries on its schedule, parks what it gives up on.
 * A conversation whose receiver is slow or failing holds up only itself.
 *
 * A pump writes the outcomes settled since the last one (one transaction) and, when only a read can
 * tell what is due, reads the oldest due queue heads. A freed slot goes to the oldest head known,
 * which may be the next entry of the conversation that just freed it, without waiting for a pump.
 * Pumps run when there may be new heads (an enqueue, a replay, a retry falling due) and a slot to
 * give them, when the known heads run out, and to write outcomes: at once when nothing is in flight
 * any more, otherwise once WRITE_BATCH are waiting or after WRITE_DELAY_MS.
 *
 * A slot runs a lane: a conversation's head and up to LOOK_AHEAD entries after it (read in one
 * query, or kept from the query before), handed to the sender thread (WebhookSenderThread), which
 * signs and POSTs each as soon as the one before it was accepted and stops at the first that is not.
 * So a conversation with a backlog goes from one delivery to the next without the main thread on
 * the way; it records each outcome as it comes back, and picks the conversation's next head when
 * the lane ends.
 */
export class WebhookDispatcher {
  private readonly sender: WebhookSenderThread;
  private readonly settlements: SettlementBatch;
  private readonly ready = new ReadyHeads();
  /** Conversations with a lane in flight. */
  private readonly inFlight = new Set<string>();
  /**
   * The entries after a conversation's known head, in order, read ahead when its last lane ended
   * (due now and durable; possibly not all of what is queued behind).
   */
  private readonly upcoming = new ReadAhead(UPCOMING_BUDGET);
  /** Counts replays: a lane started before one may not hold what comes next any more. */
  private epoch = 0;
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
  private sweepTimer: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  private stopped = false;
  private started = false;
  /** The outbox may have due heads no read has seen: a start, a replay, a retry falling due. */
  private fresh = true;
  private idle: (() => void) | undefined;

  constructor(private readonly deps: DispatcherDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.readAhead = deps.config.concurrency * READ_AHEAD_PER_SLOT;
    // Built before anything can be queued in this process: what the outbox holds is on disk.
    this.durableSeq = deps.readsOnlyDurable ? Infinity : deps.outbox.lastSeq();
    this.sender = new WebhookSenderThread(
      { url: deps.url, timeoutMs: deps.config.timeoutMs, connections: deps.config.concurrency, ...deps.signing },
      deps.logger,
    );
    this.settlements = new SettlementBatch(deps.outbox, deps.transaction);
  }

  /** Starts delivering what the outbox holds (including what a previous run left behind). */
  start(): void {
    this.started = true;
    this.sender.start();
    clearInterval(this.sweepTimer);
    this.sweepTimer = setInterval(() => {
      if (this.inFlight.size >= this.deps.config.concurrency) return;
      this.fresh = true;
      this.schedulePump();
    }, SWEEP_MS);
    this.sweepTimer.unref();
    this.kick();
  }

  /** The outbox changed (a replay): forget the heads read so far and look again soon. */
  kick(): void {
    // An entry read ahead before a replay may no longer be next.
    this.epoch++;
    this.upcoming.clear();
    this.ready.clear();
    this.fresh = true;
    this.schedulePump();
  }

  /**
   * Entry `seq`, queued at `at`, is durable. Behind an attempt in flight or a known head, it is found
   * when its turn comes; otherwise it may be a new head: known heads due before it still go first,
   * and a read finds it when they run out, or at once if a slot is free.
   */
  enqueued(conversationId: string, seq: number, at: number): void {
    this.durableSeq = Math.max(this.durableSeq, seq);
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
   * read of the outbox that follows sees every park and retry already decided.
   */
  writeOutcomes(): void {
    this.writeSettlements();
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Entries read ahead and held for conversations waiting for a slot (at most UPCOMING_BUDGET). */
  get readAheadCount(): number {
    return this.upcoming.size;
  }

  /** The outbox's queue depths, counting outcomes settled but not written yet as they will be. */
  queueDepth(): { pending: number; failed: number } {
    const counts = this.deps.outbox.counts();
    const { left, parked } = this.settlements.effect();
    return { pending: counts.pending - left, failed: counts.failed + parked };
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
    // The heads known cover every due one unless something may have changed unseen (fresh) or a read
    // stopped at its limit: then read again.
    if (this.fresh || this.ready.needsRead) this.read();
    this.fill();
  }

  /** Reads the oldest due heads (keeping the entries of those already known) and when the next retry falls due. */
  private read(): void {
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
    const entry = head.entry ?? this.deps.outbox.get(head.seq);
    if (entry?.state !== 'pending') return;
    this.inFlight.add(entry.conversation_id);
    // The lane: this head and the entries known to follow it, sent one after another.
    const lane: Lane = [entry, ...this.following(entry)];
    this.upcoming.drop(entry.conversation_id);
    void this.run(lane, this.epoch);
  }

  /**
   * The entries to send after `entry` if it is accepted. `entry` is its conversation's head, so they
   * are the pending entries above it: those read ahead before, or else one query for the next
   * LOOK_AHEAD.
   */
  private following(entry: OutboxEntry): OutboxEntry[] {
    const known = this.upcoming.of(entry.conversation_id);
    const after = known.findIndex((next) => next.seq > entry.seq);
    const entries = this.durable(after < 0 ? this.deps.outbox.nextPending(entry.conversation_id, entry.seq, LOOK_AHEAD) : known.slice(after));
    // An entry waiting for a retry goes out on its own, when it falls due.
    const first = entries[0];
    return first === undefined || first.next_attempt_at > this.now() ? [] : entries;
  }

  /** The durable ones of a conversation's next `entries` (in order): those not on disk yet, enqueued() brings when they are. */
  private durable(entries: OutboxEntry[]): OutboxEntry[] {
    const waiting = entries.findIndex((next) => next.seq > this.durableSeq);
    return waiting >= 0 ? entries.slice(0, waiting) : entries;
  }

  /**
   * Sends a lane (a conversation's head, then the entries after it while each is accepted) on the
   * sender thread, recording each outcome as it comes back; when the lane ends with its last attempt
   * out of the queue (delivered or parked), the conversation's next entry becomes a head.
   */
  private async run(lane: Lane, epoch: number): Promise<void> {
    const { conversation_id: conversationId, seq } = lane[0];
    // The lane's last attempt so far, and whether it left the queue.
    const last: { entry?: OutboxEntry; sent: number; left: boolean } = { sent: 0, left: false };
    try {
      const payloads = lane.map((entry) => entry.payload);
      await this.sender.sendInOrder(payloads, this.now() - Date.now(), (index, outcome) => {
        const entry = lane[index];
        if (entry === undefined) return;
        Object.assign(last, { entry, sent: index + 1, left: this.settle(entry, outcome) });
        if (!this.stopped) this.writeTimer ??= setTimeout(() => this.schedulePump(), WRITE_DELAY_MS);
      });
      this.inFlight.delete(conversationId);
      if (last.left && last.entry !== undefined && !this.stopped) this.follow(last.entry, lane.slice(last.sent), epoch);
    } catch (err) {
      this.inFlight.delete(conversationId);
      this.deps.logger.error({ err, seq }, 'webhook bookkeeping failed');
    }
    if (this.stopped) {
      if (this.inFlight.size === 0) this.idle?.();
      return;
    }
    this.fill();
    if (this.inFlight.size === 0 || this.settlements.size >= WRITE_BATCH) this.schedulePump();
  }

  /**
   * `entry` left its conversation's queue: that conversation's next entry, if any, is a head now.
   * `rest` are the entries of its lane that were not sent; they follow it unless a replay came since
   * the lane started (it may have put a lower entry back), and then the next is looked up from the
   * bottom.
   */
  private follow(entry: OutboxEntry, rest: OutboxEntry[], epoch: number): void {
    const conversationId = entry.conversation_id;
    let entries: OutboxEntry[];
    if (epoch !== this.epoch) {
      const next = this.nextOf(conversationId, entry.seq);
      entries = next === undefined ? [] : [next];
    } else {
      entries = this.durable(rest.length > 0 ? rest : this.deps.outbox.nextPending(conversationId, entry.seq, LOOK_AHEAD));
    }
    const [next, ...after] = entries;
    if (next === undefined) return;
    this.upcoming.keep(conversationId, after);
    if (next.next_attempt_at <= this.now()) this.ready.add({ ...next, entry: next });
    else this.scheduleRetry(next.next_attempt_at);
  }

  /**
   * The conversation's head once `current` has left its queue: its lowest pending entry other than
   * `current` and those whose leaving is not written yet (the outbox still shows them pending).
   */
  private nextOf(conversationId: string, current: number): OutboxEntry | undefined {
    for (const seq of this.deps.outbox.pendingSeqs(conversationId, this.settlements.leftIn(conversationId) + 2)) {
      if (seq === current || this.settlements.hasLeft(seq)) continue;
      // Not on disk yet: enqueued() brings it when it is.
      return seq <= this.durableSeq ? this.deps.outbox.get(seq) : undefined;
    }
    return undefined;
  }

  /** Records the outcome; returns whether the entry left its conversation's queue (delivered or parked). */
  private settle(entry: OutboxEntry, outcome: Outcome): boolean {
    const { metrics, logger } = this.deps;
    const now = this.now();
    if (outcome.ok) {
      // Accepted, even during a shutdown: written by stop(), so it is not sent again.
      this.settlements.add({ kind: 'delivered', seq: entry.seq, conversation_id: entry.conversation_id });
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
    metrics.webhookFailed.inc();
    log.warn({ status: outcome.status, error: outcome.error, reason: verdict.reason }, 'webhook delivery parked as failed');
    return true;
  }
}
