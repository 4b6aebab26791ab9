import type { SqlDb } from './sqlDb.js';

/** Conversations whose last id is kept in memory at most (about 100 bytes each). */
const MAX_REMEMBERED_IDS = 10_000;

/**
 * Hands out event ids: gap-free and in order per conversation. Call `next` inside the transaction
 * that inserts the event; the store calls `saveLast` in each transaction about to commit and
 * `forget` after any rollback.
 */
export interface EventIds {
  next(conversationId: string): number;
  saveLast(): void;
  forget(): void;
}

/**
 * SQLite: the last id of each conversation written on this connection is kept in memory, so taking
 * an id costs no statement. A rollback makes that memory unsure (`forget`); the next id is then read
 * from the table again. `conversations.last_event_id` is brought up to date once per commit
 * (`saveLast`), not once per event.
 *
 * This holds only while this connection is the one writer of the events, which the data-dir lock
 * makes so.
 */
export class RememberedEventIds implements EventIds {
  private readonly saveStmt;
  /** Last id given out per conversation, written or about to be (uncommitted writes included). */
  private lastIds = new Map<string, number>();
  /** Conversations that may have new events since the last `saveLast`. */
  private readonly touched = new Set<string>();

  constructor(
    db: SqlDb,
    private readonly lastId: (conversationId: string) => number,
  ) {
    // From the table, not from memory: right whatever rolled back since the ids were taken.
    this.saveStmt = db.prepare<{ id: string }>(
      'UPDATE conversations SET last_event_id = COALESCE((SELECT MAX(id) FROM events WHERE conversation_id = @id), 0) WHERE id = @id',
    );
  }

  next(conversationId: string): number {
    const id = (this.lastIds.get(conversationId) ?? this.lastId(conversationId)) + 1;
    // Bounded: forgetting costs one index seek per conversation that writes again.
    if (this.lastIds.size >= MAX_REMEMBERED_IDS) this.lastIds = new Map();
    this.lastIds.set(conversationId, id);
    this.touched.add(conversationId);
    return id;
  }

  saveLast(): void {
    for (const id of this.touched) this.saveStmt.run({ id });
    this.touched.clear();
  }

  forget(): void {
    if (this.lastIds.size > 0) this.lastIds = new Map();
  }
}

/**
 * PostgreSQL, where several nodes may append to one conversation at once: nothing is kept in
 * memory. Each id is the conversation row's `last_event_id`, raised by one in the append's own
 * transaction. The UPDATE locks the row until that transaction ends, so a concurrent appender
 * waits and then reads the committed value: ids come out gap-free and in commit order, and a
 * rollback (or a savepoint's) gives the id back with the rest of the transaction's writes.
 */
export class LockedEventIds implements EventIds {
  private readonly takeStmt;

  constructor(
    db: SqlDb,
    private readonly lastId: (conversationId: string) => number,
  ) {
    this.takeStmt = db.prepare<[string], number>('UPDATE conversations SET last_event_id = last_event_id + 1 WHERE id = ? RETURNING last_event_id').pluck();
  }

  next(conversationId: string): number {
    // No such conversation: the id is as SQLite would give it, and the insert fails on the foreign key there too.
    return this.takeStmt.get(conversationId) ?? this.lastId(conversationId) + 1;
  }

  saveLast(): void {
    // Each id was written to the row as it was taken.
  }

  forget(): void {
    // Nothing remembered: a rollback restores the row itself.
  }
}
