import type { ConversationEvent } from '../domain/model.js';
import type { Dialect, SqlDb } from './sqlDb.js';

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

/** The head of one conversation's queue: its lowest pending entry (read it with `get`). */
export interface OutboxHead {
  seq: number;
  conversation_id: string;
  next_attempt_at: number;
}

/** The durable webhook outbox, written in the same transaction as the event it carries. */
export class OutboxRepo {
  private readonly insertStmt;
  private readonly dueHeads;
  private readonly nextDue;
  private readonly pendingOf;
  private readonly lastSeqStmt;
  private readonly newerStmt;
  private readonly deleteStmt;
  private readonly retryStmt;
  private readonly failStmt;
  private readonly failedPage;
  private readonly bySeq;
  private readonly nextPendingStmt;
  private readonly replayStmt;
  private readonly replayAllStmt;
  private readonly countStmt;

  constructor(db: SqlDb, dialect: Dialect) {
    // RETURNING, not better-sqlite3's lastInsertRowid: the same statement on both engines.
    this.insertStmt = db
      .prepare<{ conversation_id: string; event_id: number; payload: string; now: number }, number>(
        `INSERT INTO webhook_outbox (conversation_id, event_id, payload, created_at, window_start, next_attempt_at)
       VALUES (@conversation_id, @event_id, @payload, @now, @now, @now) RETURNING seq`,
      )
      .pluck();
    // Heads come from webhook_heads (kept by triggers, see migrations.ts), in due order by its index.
    this.dueHeads = db.prepare<{ now: number; limit: number }, OutboxHead>(
      'SELECT seq, conversation_id, next_attempt_at FROM webhook_heads WHERE next_attempt_at <= @now ORDER BY next_attempt_at, seq LIMIT @limit',
    );
    this.nextDue = db.prepare<{ now: number }, { at: number | null }>('SELECT MIN(next_attempt_at) AS at FROM webhook_heads WHERE next_attempt_at > @now');
    this.pendingOf = db
      .prepare<{ conversation_id: string; limit: number }, number>(
        `SELECT seq FROM webhook_outbox WHERE state = 'pending' AND conversation_id = @conversation_id ORDER BY seq LIMIT @limit`,
      )
      .pluck();
    this.nextPendingStmt = db.prepare<{ conversation_id: string; after: number; limit: number }, OutboxEntry>(
      `SELECT * FROM webhook_outbox WHERE state = 'pending' AND conversation_id = @conversation_id AND seq > @after ORDER BY seq LIMIT @limit`,
    );
    this.lastSeqStmt = db.prepare<[], number | null>('SELECT MAX(seq) FROM webhook_outbox').pluck();
    this.newerStmt = db.prepare<{ after: number; limit: number }, { seq: number; conversation_id: string; created_at: number }>(
      "SELECT seq, conversation_id, created_at FROM webhook_outbox WHERE seq > @after AND state = 'pending' ORDER BY seq LIMIT @limit",
    );
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
      dialect === 'sqlite'
        ? `SELECT COALESCE(SUM(state = 'pending'), 0) AS pending, COALESCE(SUM(state = 'failed'), 0) AS failed FROM webhook_outbox`
        : `SELECT COUNT(*) FILTER (WHERE state = 'pending') AS pending, COUNT(*) FILTER (WHERE state = 'failed') AS failed FROM webhook_outbox`,
    );
  }

  /** Queues the event's delivery; returns its seq. */
  enqueue(event: ConversationEvent, now: number): number {
    const seq = this.insertStmt.get({ conversation_id: event.conversation_id, event_id: event.id, payload: JSON.stringify(event), now });
    if (seq === undefined) throw new Error('the outbox insert returned no seq');
    return seq;
  }

  /** The highest seq queued so far (0 when the outbox is empty). */
  /** Pending entries queued after `seq`, oldest first (in a cluster: what other nodes queued). */
  pendingAfter(seq: number, limit: number): { seq: number; conversation_id: string; created_at: number }[] {
    return this.newerStmt.all({ after: seq, limit });
  }

  lastSeq(): number {
    return this.lastSeqStmt.get() ?? 0;
  }

  /** Due queue heads, oldest first (at most `limit`); costs O(limit), whatever the backlog. */
  due(now: number, limit: number): OutboxHead[] {
    return this.dueHeads.all({ now, limit });
  }

  /** When the earliest queue head that is not yet due becomes due (one index seek). */
  nextDueAt(now: number): number | undefined {
    return this.nextDue.get({ now })?.at ?? undefined;
  }

  /** A conversation's lowest `limit` pending seqs, in order (read from an index only). */
  pendingSeqs(conversationId: string, limit: number): number[] {
    return this.pendingOf.all({ conversation_id: conversationId, limit });
  }

  /** A conversation's first `limit` pending entries after `seq`, in order (one seek in the heads index, then a row read each). */
  nextPending(conversationId: string, after: number, limit: number): OutboxEntry[] {
    return this.nextPendingStmt.all({ conversation_id: conversationId, after, limit });
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
