import type { Conversation, ConversationProperties } from '../domain/model.js';
import { compact, readJson } from './json.js';
import type { Page, PageRequest } from './page.js';
import type { Dialect, SqlDb, SqlStatement } from './sqlDb.js';

interface ListParams {
  after: number;
  limit: number;
  user: string | null;
}

interface Row {
  seq: number;
  id: string;
  name: string;
  display_name: string | null;
  state: 'active' | 'deleted';
  properties: string;
  created_at: string;
  updated_at: string | null;
  destroyed_at: string | null;
}

function toConversation(row: Row): Conversation {
  return compact({
    id: row.id,
    name: row.name,
    display_name: row.display_name,
    state: row.state,
    properties: readJson<ConversationProperties>(row.properties),
    timestamp: compact({ created: row.created_at, updated: row.updated_at, destroyed: row.destroyed_at }),
  });
}

export interface NewConversation {
  id: string;
  name: string;
  display_name?: string | undefined;
  properties: ConversationProperties;
  created_at: string;
}

/**
 * Conversations table; all methods are synchronous and meant to run inside the caller's transaction.
 * Event ids are EventsRepo's: it gives them out and brings `last_event_id` up to date at each commit.
 */
export class ConversationsRepo {
  private readonly byId;
  private readonly byName;
  private readonly activeById;
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly deleteStmt;
  private readonly idleStmt;
  private readonly expiredStmt;
  private readonly listStmts = new Map<string, SqlStatement<[ListParams], Row>>();

  constructor(
    private readonly db: SqlDb,
    dialect: Dialect,
  ) {
    this.byId = db.prepare<[string], Row>('SELECT * FROM conversations WHERE id = ?');
    this.activeById = db.prepare<[string], number>("SELECT 1 FROM conversations WHERE id = ? AND state = 'active'").pluck();
    this.byName = db.prepare<[string], Row>("SELECT * FROM conversations WHERE name = ? AND state = 'active'");
    this.insertStmt = db.prepare(
      `INSERT INTO conversations (id, name, display_name, state, properties, created_at, idle_since)
       VALUES (@id, @name, @display_name, 'active', @properties, @created_at, @created_at)`,
    );
    this.updateStmt = db.prepare(
      `UPDATE conversations SET name = @name, display_name = @display_name, properties = @properties, updated_at = @updated_at
       WHERE id = @id AND state = 'active'`,
    );
    this.deleteStmt = db.prepare("UPDATE conversations SET state = 'deleted', destroyed_at = @at, updated_at = @at WHERE id = @id AND state = 'active'");
    // Only a change is written: in a busy conversation every join and leave would otherwise rewrite its row with the same NULL.
    this.idleStmt = db.prepare('UPDATE conversations SET idle_since = @at WHERE id = @id AND idle_since IS DISTINCT FROM @at');
    this.expiredStmt = db.prepare<[string], { id: string }>(
      dialect === 'sqlite'
        ? `SELECT id FROM conversations
       WHERE state = 'active' AND idle_since IS NOT NULL AND json_extract(properties, '$.ttl') IS NOT NULL
         AND unixepoch(idle_since) + json_extract(properties, '$.ttl') <= unixepoch(?)`
        : // Whole seconds, as SQLite's unixepoch() counts them.
          `SELECT id FROM conversations
       WHERE state = 'active' AND idle_since IS NOT NULL AND jsonb_typeof(properties::jsonb -> 'ttl') = 'number'
         AND floor(extract(epoch FROM idle_since::timestamptz)) + (properties::jsonb ->> 'ttl')::numeric <= floor(extract(epoch FROM ?::timestamptz))`,
    );
  }

  get(id: string): Conversation | undefined {
    const row = this.byId.get(id);
    return row ? toConversation(row) : undefined;
  }

  /** Whether the conversation exists and is active (one index probe, no row decoded). */
  isActive(id: string): boolean {
    return this.activeById.get(id) !== undefined;
  }

  getActiveByName(name: string): Conversation | undefined {
    const row = this.byName.get(name);
    return row ? toConversation(row) : undefined;
  }

  insert(c: NewConversation): void {
    this.insertStmt.run({ ...c, display_name: c.display_name ?? null, properties: JSON.stringify(c.properties) });
  }

  update(c: Conversation, updatedAt: string): void {
    this.updateStmt.run({
      id: c.id,
      name: c.name,
      display_name: c.display_name ?? null,
      properties: JSON.stringify(c.properties),
      updated_at: updatedAt,
    });
  }

  markDeleted(id: string, at: string): void {
    this.deleteStmt.run({ id, at });
  }

  /** Records when a conversation became empty (null when someone is in it); drives `properties.ttl`. */
  setIdleSince(id: string, at: string | null): void {
    this.idleStmt.run({ id, at });
  }

  /** Active conversations whose ttl has run out since they became empty. */
  expired(now: string): string[] {
    return this.expiredStmt.all(now).map((r) => r.id);
  }

  /** Lists active conversations; `visibleTo` limits to those where that user is a current member. */
  list(page: PageRequest, visibleTo?: string): Page<Conversation> {
    const dir = page.order === 'asc' ? '>' : '<';
    const sort = page.order === 'asc' ? 'ASC' : 'DESC';
    const after = page.after ?? (page.order === 'asc' ? 0 : Number.MAX_SAFE_INTEGER);
    const memberFilter = visibleTo ? "AND EXISTS (SELECT 1 FROM members m WHERE m.conversation_id = c.id AND m.user_id = @user AND m.state != 'left')" : '';
    const key = `${sort}:${memberFilter ? 'user' : 'all'}`;
    let stmt = this.listStmts.get(key);
    if (!stmt) {
      stmt = this.db.prepare<ListParams, Row>(
        `SELECT c.* FROM conversations c WHERE c.state = 'active' AND c.seq ${dir} @after ${memberFilter}
         ORDER BY c.seq ${sort} LIMIT @limit`,
      );
      this.listStmts.set(key, stmt);
    }
    const rows = stmt.all({ after, limit: page.size + 1, user: visibleTo ?? null });
    const more = rows.length > page.size;
    const items = rows.slice(0, page.size);
    const last = items.at(-1);
    const result: Page<Conversation> = { items: items.map(toConversation) };
    if (more && last) result.next = last.seq;
    return result;
  }
}
