import type { ConversationEvent } from '../domain/model.js';
import type { SqliteDb } from './sqlite.js';

/** One queued webhook delivery. Times are milliseconds since the epoch. */
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

/** The durable webhook outbox, written in the same transaction as the event it carries. */
export class OutboxRepo {
  private readonly insertStmt;
  private readonly dueHeads;
  private readonly nextDue;
  private readonly deleteStmt;
  private readonly retryStmt;
  private readonly failStmt;
  private readonly failedPage;
  private readonly bySeq;
  private readonly replayStmt;
  private readonly replayAllStmt;
  private readonly countStmt;

  constructor(db: SqliteDb) {
    this.insertStmt = db.prepare(
      `INSERT INTO webhook_outbox (conversation_id, event_id, payload, created_at, window_start, next_attempt_at)
       VALUES (@conversation_id, @event_id, @payload, @now, @now, @now)`,
    );
    // The head of each conversation's queue: nothing behind it goes before it does.
    const heads = `SELECT o.* FROM webhook_outbox o
      JOIN (SELECT conversation_id, MIN(seq) AS seq FROM webhook_outbox WHERE state = 'pending' GROUP BY conversation_id) h
        ON h.seq = o.seq`;
    this.dueHeads = db.prepare<{ now: number; limit: number }, OutboxEntry>(
      `${heads} WHERE o.next_attempt_at <= @now ORDER BY o.next_attempt_at, o.seq LIMIT @limit`,
    );
    this.nextDue = db.prepare<{ now: number }, { at: number | null }>(`SELECT MIN(o.next_attempt_at) AS at FROM (${heads}) o WHERE o.next_attempt_at > @now`);
    this.deleteStmt = db.prepare('DELETE FROM webhook_outbox WHERE seq = ?');
    this.retryStmt = db.prepare(
      `UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = @next, last_status = @status, last_error = @error
       WHERE seq = @seq`,
    );
    this.failStmt = db.prepare(
      `UPDATE webhook_outbox SET state = 'failed', attempts = attempts + 1, failed_at = @now, last_status = @status, last_error = @error
       WHERE seq = @seq`,
    );
    this.failedPage = db.prepare<{ after: number; limit: number }, OutboxEntry>(
      "SELECT * FROM webhook_outbox WHERE state = 'failed' AND seq > @after ORDER BY seq LIMIT @limit",
    );
    this.bySeq = db.prepare<[number], OutboxEntry>('SELECT * FROM webhook_outbox WHERE seq = ?');
    this.replayStmt = db.prepare(
      `UPDATE webhook_outbox SET state = 'pending', attempts = 0, window_start = @now, next_attempt_at = @now, failed_at = NULL
       WHERE seq = @seq AND state = 'failed'`,
    );
    this.replayAllStmt = db.prepare(
      `UPDATE webhook_outbox SET state = 'pending', attempts = 0, window_start = @now, next_attempt_at = @now, failed_at = NULL
       WHERE state = 'failed'`,
    );
    this.countStmt = db.prepare<[], { pending: number; failed: number }>(
      `SELECT COALESCE(SUM(state = 'pending'), 0) AS pending, COALESCE(SUM(state = 'failed'), 0) AS failed FROM webhook_outbox`,
    );
  }

  enqueue(event: ConversationEvent, now: number): void {
    this.insertStmt.run({ conversation_id: event.conversation_id, event_id: event.id, payload: JSON.stringify(event), now });
  }

  /** Due queue heads, oldest first (at most `limit`). */
  due(now: number, limit: number): OutboxEntry[] {
    return this.dueHeads.all({ now, limit });
  }

  /** When the earliest queue head that is not yet due becomes due. */
  nextDueAt(now: number): number | undefined {
    return this.nextDue.get({ now })?.at ?? undefined;
  }

  delivered(seq: number): void {
    this.deleteStmt.run(seq);
  }

  retryLater(seq: number, next: number, status: number | null, error: string): void {
    this.retryStmt.run({ seq, next, status, error });
  }

  park(seq: number, now: number, status: number | null, error: string): void {
    this.failStmt.run({ seq, now, status, error });
  }

  get(seq: number): OutboxEntry | undefined {
    return this.bySeq.get(seq);
  }

  failed(after: number, limit: number): OutboxEntry[] {
    return this.failedPage.all({ after, limit });
  }

  /** Puts a parked delivery back in its queue; returns false when there was no such parked entry. */
  replay(seq: number, now: number): boolean {
    return this.replayStmt.run({ seq, now }).changes > 0;
  }

  replayAll(now: number): number {
    return this.replayAllStmt.run({ now }).changes;
  }

  counts(): { pending: number; failed: number } {
    return this.countStmt.get() ?? { pending: 0, failed: 0 };
  }
}
