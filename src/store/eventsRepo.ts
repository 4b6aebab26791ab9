import type { ConversationEvent } from '../domain/model.js';
import { LockedEventIds, RememberedEventIds, type EventIds } from './eventIds.js';
import { readJson } from './json.js';
import type { Page, Order } from './page.js';
import type { Dialect, SqlDb, SqlStatement } from './sqlDb.js';

interface Row {
  conversation_id: string;
  id: number;
  type: string;
  from_id: string;
  to_id: string | null;
  timestamp: string;
  body: string;
  deleted_at: string | null;
}

function toEvent(row: Row): ConversationEvent {
  const event: ConversationEvent = {
    id: row.id,
    type: row.type,
    from: row.from_id,
    timestamp: row.timestamp,
    body: readJson<Record<string, unknown>>(row.body),
    conversation_id: row.conversation_id,
  };
  if (row.to_id !== null) event.to = row.to_id;
  if (row.deleted_at !== null) event.deleted_at = row.deleted_at;
  return event;
}

/** Filters of an event listing. `types` entries ending in `*` match a prefix (`member:*`). */
export interface EventQuery {
  conversationId: string;
  order: Order;
  size: number;
  /** Continue strictly after this id (in the order's direction). */
  after?: number;
  startId?: number;
  endId?: number;
  types?: readonly string[];
  /** Limit to events this member may see: broadcast ones, and those from or to it. */
  visibleTo?: string;
}

/**
 * Events table: the append-only conversation log (bodies may be blanked by a delete). It also hands
 * out event ids (eventIds.ts): from memory on SQLite, where this connection is the one writer, and
 * from the conversation row, locked until commit, on PostgreSQL, where several nodes may write.
 */
export class EventsRepo {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly afterStmt;
  private readonly blankStmt;
  private readonly lastIdStmt;
  private readonly listStmts = new Map<string, SqlStatement<[Record<string, unknown>], Row>>();
  private readonly ids: EventIds;

  constructor(
    private readonly db: SqlDb,
    dialect: Dialect,
  ) {
    // Positional parameters: binding them is cheaper than looking up named ones in an object.
    this.insertStmt = db.prepare<[string, number, string, string, string | null, string, string]>(
      'INSERT INTO events (conversation_id, id, type, from_id, to_id, timestamp, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.getStmt = db.prepare<[string, number], Row>('SELECT * FROM events WHERE conversation_id = ? AND id = ?');
    this.afterStmt = db.prepare<[string, number, number, number], Row>(
      'SELECT * FROM events WHERE conversation_id = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?',
    );
    this.blankStmt = db.prepare("UPDATE events SET body = '{}', deleted_at = @at WHERE conversation_id = @conversation_id AND id = @id");
    // One seek at the end of the primary key's range for the conversation.
    this.lastIdStmt = db.prepare<[string], number | null>('SELECT MAX(id) FROM events WHERE conversation_id = ?').pluck();
    const lastId = (conversationId: string): number => this.lastId(conversationId);
    this.ids = dialect === 'sqlite' ? new RememberedEventIds(db, lastId) : new LockedEventIds(db, lastId);
  }

  /**
   * Takes the conversation's next event id; call it inside the transaction that inserts the event.
   * Ids are gap-free: a rolled-back id is given out again (see `forgetIds`).
   */
  nextId(conversationId: string): number {
    return this.ids.next(conversationId);
  }

  /** Brings `conversations.last_event_id` up to date for the ids taken since the last call; run it in the transaction about to commit. */
  saveLastIds(): void {
    this.ids.saveLast();
  }

  /** The conversation's highest event id, committed or in the open transaction (0 when it has none). */
  lastId(conversationId: string): number {
    return this.lastIdStmt.get(conversationId) ?? 0;
  }

  /** Forgets the ids given out so far (a transaction rolled back): the next ones are read from the database. */
  forgetIds(): void {
    this.ids.forget();
  }

  /** Stores an event whose id came from `nextId`; `body` is its body as JSON when the caller has it already. */
  insert(e: ConversationEvent, body = JSON.stringify(e.body)): void {
    this.insertStmt.run(e.conversation_id, e.id, e.type, e.from, e.to ?? null, e.timestamp, body);
  }

  get(conversationId: string, id: number): ConversationEvent | undefined {
    const row = this.getStmt.get(conversationId, id);
    return row ? toEvent(row) : undefined;
  }

  /** The conversation's first `limit` events with ids in (`after`, `through`], in id order (one range of the primary key). */
  between(conversationId: string, after: number, through: number, limit: number): ConversationEvent[] {
    return this.afterStmt.all(conversationId, after, through, limit).map(toEvent);
  }

  /** Blanks a deleted event's body; its id and type stay so the sequence has no holes. */
  markDeleted(conversationId: string, id: number, at: string): void {
    this.blankStmt.run({ conversation_id: conversationId, id, at });
  }

  list(q: EventQuery): Page<ConversationEvent> {
    const asc = q.order === 'asc';
    const where = ['conversation_id = @conversation_id'];
    const params: Record<string, unknown> = { conversation_id: q.conversationId, limit: q.size + 1 };
    if (q.after !== undefined) {
      where.push(asc ? 'id > @after' : 'id < @after');
      params.after = q.after;
    }
    if (q.startId !== undefined) {
      where.push('id >= @start');
      params.start = q.startId;
    }
    if (q.endId !== undefined) {
      where.push('id <= @end');
      params.end = q.endId;
    }
    if (q.visibleTo !== undefined) {
      where.push('(to_id IS NULL OR to_id = @member OR from_id = @member)');
      params.member = q.visibleTo;
    }
    if (q.types && q.types.length > 0) {
      const clauses = q.types.map((t, i) => {
        if (t.endsWith('*')) {
          // LIKE with an escape so `_` and `%` in a type are literal.
          params[`t${i}`] = `${t.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
          return `type LIKE @t${i} ESCAPE '\\'`;
        }
        params[`t${i}`] = t;
        return `type = @t${i}`;
      });
      where.push(`(${clauses.join(' OR ')})`);
    }
    const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id ${asc ? 'ASC' : 'DESC'} LIMIT @limit`;
    let stmt = this.listStmts.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<Record<string, unknown>, Row>(sql);
      // The shape of the SQL depends only on which filters are set, so the cache stays small.
      if (this.listStmts.size < 256) this.listStmts.set(sql, stmt);
    }
    const rows = stmt.all(params);
    const items = rows.slice(0, q.size).map(toEvent);
    const page: Page<ConversationEvent> = { items };
    const last = items.at(-1);
    if (rows.length > q.size && last) page.next = last.id;
    return page;
  }
}
