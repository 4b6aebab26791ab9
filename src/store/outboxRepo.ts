import type { Dialect, SqlDb } from './sqlDb.js';

/** An event of a lane that is parked: what its row keeps. */
export interface ParkedEvent {
  conversation_id: string;
  event_id: number;
  payload: string;
  attempts: number;
  created_at: number;
  window_start: number;
}

/** One parked or replayed webhook delivery. Times are milliseconds since the epoch. */
export interface OutboxEntry {
  seq: number;
  conversation_id: string;
  event_id: number;
  /** The exact bytes to POST: the event as committed. */
  payload: string;
  state: 'pending' | 'failed';
  attempts: number;
  created_at: number;
  window_start: number;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  failed_at: number | null;
}

/**
 * Webhook deliveries that are not in a lane's stream of events: those given up on (parked, state
 * 'failed'), and parked ones put back (replayed, state 'pending'), which go out before their lane's
 * events. Each row carries the exact bytes it was, or is to be, posted with.
 */
export class OutboxRepo {
  private readonly parkStmt;
  private readonly replaysOf;
  private readonly deleteStmt;
  private readonly parkAgainStmt;
  private readonly failedPage;
  private readonly bySeq;
  private readonly replayStmt;
  private readonly replayAllStmt;
  private readonly countStmt;

  constructor(db: SqlDb, dialect: Dialect) {
    this.parkStmt = db.prepare<ParkedEvent & { at: number; status: number | null; error: string }>(
      `INSERT INTO webhook_outbox (conversation_id, event_id, payload, state, attempts, created_at, window_start, next_attempt_at, last_status, last_error, failed_at)
       VALUES (@conversation_id, @event_id, @payload, 'failed', @attempts, @created_at, @window_start, @at, @status, @error, @at)`,
    );
    this.replaysOf = db.prepare<{ conversation_id: string; limit: number }, OutboxEntry>(
      `SELECT * FROM webhook_outbox WHERE state = 'pending' AND conversation_id = @conversation_id ORDER BY seq LIMIT @limit`,
    );
    this.deleteStmt = db.prepare('DELETE FROM webhook_outbox WHERE seq = ?');
    this.parkAgainStmt = db.prepare(
      `UPDATE webhook_outbox SET state = 'failed', attempts = @attempts, failed_at = @at, last_status = @status, last_error = @error
       WHERE seq = @seq`,
    );
    this.failedPage = db.prepare<{ after: number; limit: number }, OutboxEntry>(
      "SELECT * FROM webhook_outbox WHERE state = 'failed' AND seq > @after ORDER BY seq LIMIT @limit",
    );
    this.bySeq = db.prepare<[number], OutboxEntry>('SELECT * FROM webhook_outbox WHERE seq = ?');
    this.replayStmt = db
      .prepare<{ seq: number; now: number }, string>(
        `UPDATE webhook_outbox SET state = 'pending', attempts = 0, window_start = @now, next_attempt_at = @now, failed_at = NULL
       WHERE seq = @seq AND state = 'failed' RETURNING conversation_id`,
      )
      .pluck();
    this.replayAllStmt = db.prepare(
      `UPDATE webhook_outbox SET state = 'pending', attempts = 0, window_start = @now, next_attempt_at = @now, failed_at = NULL
       WHERE state = 'failed'`,
    );
    this.countStmt = db.prepare<[], { failed: number }>(
      dialect === 'sqlite'
        ? `SELECT COALESCE(SUM(state = 'failed'), 0) AS failed FROM webhook_outbox`
        : `SELECT COUNT(*) FILTER (WHERE state = 'failed') AS failed FROM webhook_outbox`,
    );
  }

  /** Parks a lane's event that was given up on; returns nothing, the row is found by `failed`. */
  park(entry: ParkedEvent, at: number, status: number | null, error: string): void {
    this.parkStmt.run({ ...entry, at, status, error });
  }

  /** A conversation's first `limit` replayed deliveries, oldest first. */
  replays(conversationId: string, limit: number): OutboxEntry[] {
    return this.replaysOf.all({ conversation_id: conversationId, limit });
  }

  /** A replayed delivery was accepted. */
  delivered(seq: number): void {
    this.deleteStmt.run(seq);
  }

  /** A replayed delivery was given up on again. */
  parkAgain(seq: number, attempts: number, at: number, status: number | null, error: string): void {
    this.parkAgainStmt.run({ seq, attempts, at, status, error });
  }

  get(seq: number): OutboxEntry | undefined {
    return this.bySeq.get(seq);
  }

  failed(after: number, limit: number): OutboxEntry[] {
    return this.failedPage.all({ after, limit });
  }

  /** Puts a parked delivery back; returns its conversation, or undefined when there was no such parked entry. */
  replay(seq: number, now: number): string | undefined {
    return this.replayStmt.get({ seq, now });
  }

  /** Puts every parked delivery back; returns how many. */
  replayAll(now: number): number {
    return this.replayAllStmt.run({ now }).changes;
  }

  /** Deliveries parked as failed. */
  failedCount(): number {
    return this.countStmt.get()?.failed ?? 0;
  }
}
