import type { SqlDb } from './sqlDb.js';

/**
 * One conversation's webhook queue, as a cursor over its event log. Times are milliseconds since
 * the epoch. The queue is: the replayed deliveries of the conversation (parked ones put back, in
 * webhook_outbox with state 'pending'), then its events after `delivered_id` of the types the
 * webhook takes. `attempts`, `window_start` and the `last_*` fields are those of its head.
 */
export interface Lane {
  /** Orders lanes due at the same time (the order they were first queued in). */
  lane: number;
  conversation_id: string;
  /** Every event up to this id has left the queue (delivered or parked), or was never queued. */
  delivered_id: number;
  /** The last event queued: the queue holds events while this is above `delivered_id`. */
  last_id: number;
  /** Events queued after `delivered_id` and not yet delivered (a gauge: emptiness is told by the ids). */
  pending: number;
  /** Replayed deliveries waiting in webhook_outbox. */
  replays: number;
  attempts: number;
  window_start: number;
  /** When the head is due; null when the queue is empty. */
  next_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
}

/** A due lane: its queue holds something. */
export type DueLane = Lane & { next_attempt_at: number };

/** What a batch of settled deliveries did to one lane's queue. */
export interface LaneAdvance {
  conversation_id: string;
  /** The highest event id that left the queue (0 when only replays left). */
  through: number;
  /** Events that left the queue. */
  events: number;
  /** Replayed deliveries that left the queue. */
  replays: number;
}

/**
 * The webhook lanes: one row per conversation whose events the webhook takes. An append bumps its
 * lane in the event's transaction (one row, usually a page shared with other lanes), and a lane of
 * delivered events moves its cursor once per batch: no row per event is written, then deleted.
 */
export class LanesRepo {
  private readonly appendStmt;
  private readonly dueStmt;
  private readonly nextDueStmt;
  private readonly getStmt;
  private readonly advanceStmt;
  private readonly retryStmt;
  private readonly emptyStmt;
  private readonly replayedStmt;
  private readonly replayedAllStmt;
  private readonly countStmt;

  constructor(db: SqlDb) {
    // A lane that was empty starts again at this event: those appended while no webhook was
    // configured were never queued, and its retry state belonged to a head that has left.
    this.appendStmt = db.prepare<{ conversation_id: string; id: number; before: number; now: number }>(
      `INSERT INTO webhook_lanes (conversation_id, delivered_id, last_id, pending, replays, attempts, window_start, next_attempt_at)
       VALUES (@conversation_id, @before, @id, 1, 0, 0, @now, @now)
       ON CONFLICT (conversation_id) DO UPDATE SET
         last_id = CASE WHEN webhook_lanes.last_id > excluded.last_id THEN webhook_lanes.last_id ELSE excluded.last_id END,
         pending = CASE WHEN webhook_lanes.next_attempt_at IS NULL THEN 1 ELSE webhook_lanes.pending + 1 END,
         delivered_id = CASE WHEN webhook_lanes.next_attempt_at IS NULL THEN excluded.delivered_id ELSE webhook_lanes.delivered_id END,
         attempts = CASE WHEN webhook_lanes.next_attempt_at IS NULL THEN 0 ELSE webhook_lanes.attempts END,
         window_start = CASE WHEN webhook_lanes.next_attempt_at IS NULL THEN excluded.window_start ELSE webhook_lanes.window_start END,
         next_attempt_at = COALESCE(webhook_lanes.next_attempt_at, excluded.next_attempt_at)`,
    );
    this.dueStmt = db.prepare<{ now: number; limit: number }, DueLane>(
      'SELECT * FROM webhook_lanes WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= @now ORDER BY next_attempt_at, lane LIMIT @limit',
    );
    this.nextDueStmt = db
      .prepare<{ now: number }, number | null>('SELECT MIN(next_attempt_at) FROM webhook_lanes WHERE next_attempt_at IS NOT NULL AND next_attempt_at > @now')
      .pluck();
    this.getStmt = db.prepare<[string], Lane>('SELECT * FROM webhook_lanes WHERE conversation_id = ?');
    // The row is read again under its lock (PostgreSQL), so an append committed meanwhile counts:
    // the lane stays due while its last queued event is past the cursor or a replay waits.
    this.advanceStmt = db.prepare<{ conversation_id: string; through: number; events: number; replays: number; now: number }>(
      `UPDATE webhook_lanes SET
         delivered_id = CASE WHEN delivered_id > @through THEN delivered_id ELSE @through END,
         pending = CASE WHEN pending > @events THEN pending - @events ELSE 0 END,
         replays = CASE WHEN replays > @replays THEN replays - @replays ELSE 0 END,
         attempts = 0,
         window_start = @now,
         last_status = NULL,
         last_error = NULL,
         next_attempt_at = CASE WHEN (last_id > delivered_id AND last_id > @through) OR replays > @replays THEN CAST(@now AS BIGINT) ELSE NULL END
       WHERE conversation_id = @conversation_id`,
    );
    this.retryStmt = db.prepare<{ conversation_id: string; next: number; status: number | null; error: string }>(
      `UPDATE webhook_lanes SET attempts = attempts + 1, next_attempt_at = @next, last_status = @status, last_error = @error
       WHERE conversation_id = @conversation_id`,
    );
    // Only if nothing was appended or replayed since the lane was found to hold nothing to send.
    this.emptyStmt = db.prepare<{ conversation_id: string; last_id: number; replays: number }>(
      `UPDATE webhook_lanes SET delivered_id = last_id, pending = 0, replays = 0, attempts = 0, next_attempt_at = NULL, last_status = NULL, last_error = NULL
       WHERE conversation_id = @conversation_id AND last_id = @last_id AND replays = @replays`,
    );
    this.replayedStmt = db.prepare<{ conversation_id: string; now: number }>(
      `UPDATE webhook_lanes SET replays = replays + 1,
         attempts = CASE WHEN next_attempt_at IS NULL THEN 0 ELSE attempts END,
         window_start = CASE WHEN next_attempt_at IS NULL THEN @now ELSE window_start END,
         next_attempt_at = COALESCE(next_attempt_at, @now)
       WHERE conversation_id = @conversation_id`,
    );
    this.replayedAllStmt = db.prepare<{ now: number }>(
      `UPDATE webhook_lanes SET
         replays = (SELECT COUNT(*) FROM webhook_outbox o WHERE o.state = 'pending' AND o.conversation_id = webhook_lanes.conversation_id),
         attempts = CASE WHEN next_attempt_at IS NULL THEN 0 ELSE attempts END,
         window_start = CASE WHEN next_attempt_at IS NULL THEN @now ELSE window_start END,
         next_attempt_at = COALESCE(next_attempt_at, @now)
       WHERE conversation_id IN (SELECT conversation_id FROM webhook_outbox WHERE state = 'pending')`,
    );
    this.countStmt = db.prepare<[], number | null>('SELECT SUM(pending + replays) FROM webhook_lanes WHERE next_attempt_at IS NOT NULL').pluck();
  }

  /** Queues event `id` in its conversation's lane; run it in the event's transaction. */
  appended(conversationId: string, id: number, now: number): void {
    this.appendStmt.run({ conversation_id: conversationId, id, before: id - 1, now });
  }

  /** Lanes whose head is due, earliest first (at most `limit`); one index range, whatever the backlog. */
  due(now: number, limit: number): DueLane[] {
    return this.dueStmt.all({ now, limit });
  }

  /** When the earliest lane that is not due yet becomes due. */
  nextDueAt(now: number): number | undefined {
    return this.nextDueStmt.get({ now }) ?? undefined;
  }

  get(conversationId: string): Lane | undefined {
    return this.getStmt.get(conversationId);
  }

  /** Takes settled deliveries off the front of a lane; its next head (if any) is due at once. */
  advance(a: LaneAdvance, now: number): void {
    this.advanceStmt.run({ ...a, now });
  }

  /** The head failed and is tried again at `next`. */
  retryLater(conversationId: string, next: number, status: number | null, error: string): void {
    this.retryStmt.run({ conversation_id: conversationId, next, status, error });
  }

  /**
   * The lane was found to hold nothing to send up to `lastId` (the webhook's event types changed
   * across a restart): it is marked empty unless something was appended or replayed since.
   */
  markEmpty(conversationId: string, lastId: number, replays: number): void {
    this.emptyStmt.run({ conversation_id: conversationId, last_id: lastId, replays });
  }

  /** A parked delivery of the conversation was put back: it goes out before the lane's events. */
  replayed(conversationId: string, now: number): void {
    this.replayedStmt.run({ conversation_id: conversationId, now });
  }

  /** Every parked delivery was put back: each lane counts its replays again. */
  replayedAll(now: number): void {
    this.replayedAllStmt.run({ now });
  }

  /** Deliveries waiting, all lanes together. */
  pending(): number {
    return this.countStmt.get() ?? 0;
  }
}
