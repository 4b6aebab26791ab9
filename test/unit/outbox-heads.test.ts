/**
 * The webhook outbox's queue heads, kept by triggers, on a real SQLite file and a real PostgreSQL
 * database: the dispatcher's view of each conversation's oldest pending delivery.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationEvent } from '../../src/domain/model.js';
import Database from 'better-sqlite3';
import { migrate } from '../../src/store/migrations.js';
import { OutboxRepo } from '../../src/store/outboxRepo.js';
import { PgDatabase } from '../../src/store/pg/pgDatabase.js';
import { migratePg, PG_SCHEMA_VERSION } from '../../src/store/pg/pgMigrations.js';
import type { SqlDb } from '../../src/store/sqlDb.js';
import { openDatabase, type SqliteDb } from '../../src/store/sqlite.js';
import { ENGINES, engineStore, usePostgres, type EngineStore } from '../support/storeEngines.js';

const T0 = 1_700_000_000_000;

function event(conversation: string, id: number): ConversationEvent {
  return { id, type: 'text', from: 'MEM-x', timestamp: new Date(T0).toISOString(), body: { text: `${conversation} ${id}` }, conversation_id: conversation };
}

usePostgres('the webhook outbox heads');

describe.each(ENGINES)('webhook outbox heads (%s)', (engine) => {
  let place: EngineStore;
  let db: SqlDb;
  let sqlite: SqliteDb | undefined;
  let pg: PgDatabase | undefined;
  let outbox: OutboxRepo;
  /** Outbox seq of each queued event, by `conversation#id`. */
  const seqs = new Map<string, number>();

  const enqueue = (conversation: string, id: number, at = T0): void => {
    outbox.enqueue(event(conversation, id), at);
    const row = db.prepare('SELECT seq FROM webhook_outbox WHERE conversation_id = ? AND event_id = ?').get(conversation, id) as { seq: number };
    seqs.set(`${conversation}#${id}`, row.seq);
  };
  const seq = (key: string): number => seqs.get(key)!;
  /** The due heads as `conversation#event_id`, in the order the dispatcher gets them. */
  const heads = (now = T0, limit = 100): string[] =>
    outbox.due(now, limit).map((h) => {
      const entry = outbox.get(h.seq)!;
      return `${entry.conversation_id}#${entry.event_id}`;
    });

  beforeEach(() => {
    place = engineStore(engine);
    if (place.databaseUrl === undefined) {
      db = sqlite = openDatabase(`${place.dir}/legway.sqlite`, { synchronous: 'normal' });
    } else {
      db = pg = new PgDatabase(place.databaseUrl);
      migratePg(pg);
    }
    outbox = new OutboxRepo(db, engine);
    seqs.clear();
  });

  afterEach(() => {
    db.close();
    sqlite = pg = undefined;
    place.remove();
  });

  it("gives each conversation's oldest pending entry, oldest first, and only as many as asked", () => {
    for (let id = 1; id <= 3; id++) for (const c of ['CON-a', 'CON-b', 'CON-c']) enqueue(c, id);

    expect(heads()).toEqual(['CON-a#1', 'CON-b#1', 'CON-c#1']);
    expect(heads(T0, 2)).toEqual(['CON-a#1', 'CON-b#1']);
    expect(outbox.due(T0 - 1, 100)).toEqual([]);
  });

  it('moves a conversation to its next entry when its head is delivered, and drops it when none is left', () => {
    for (const c of ['CON-a', 'CON-b']) for (let id = 1; id <= 2; id++) enqueue(c, id);

    db.transaction(() => {
      outbox.delivered(seq('CON-a#1'));
      outbox.delivered(seq('CON-b#1'));
      outbox.delivered(seq('CON-b#2'));
    })();

    expect(heads()).toEqual(['CON-a#2']);
    expect(outbox.counts()).toEqual({ pending: 1, failed: 0 });
  });

  it('skips a parked head (later entries go on), and puts it back first when it is replayed', () => {
    for (const c of ['CON-a', 'CON-b']) for (let id = 1; id <= 3; id++) enqueue(c, id);

    outbox.park(seq('CON-a#1'), T0 + 1, 400, 'HTTP 400');
    expect(heads()).toEqual(['CON-a#2', 'CON-b#1']);
    outbox.delivered(seq('CON-a#2'));
    expect(heads()).toEqual(['CON-a#3', 'CON-b#1']);

    expect(outbox.replay(seq('CON-a#1'), T0 + 5)).toBe(true);
    // The replayed entry is its conversation's oldest again, due from the replay on.
    expect(heads(T0 + 5)).toEqual(['CON-b#1', 'CON-a#1']);
    expect(heads(T0 + 4)).toEqual(['CON-b#1']);
    expect(outbox.failed(0, 10)).toEqual([]);
  });

  it('replaying every parked entry restores the heads of every conversation involved', () => {
    for (const c of ['CON-a', 'CON-b', 'CON-c']) for (let id = 1; id <= 2; id++) enqueue(c, id);
    outbox.park(seq('CON-a#1'), T0, 410, 'gone');
    outbox.park(seq('CON-a#2'), T0, 410, 'gone');
    outbox.park(seq('CON-b#1'), T0, 410, 'gone');
    outbox.delivered(seq('CON-c#1'));
    expect(heads()).toEqual(['CON-b#2', 'CON-c#2']);

    expect(outbox.replayAll(T0 + 10)).toBe(3);

    expect(heads(T0 + 10)).toEqual(['CON-c#2', 'CON-a#1', 'CON-b#1']);
  });

  it('holds back a head that waits for a retry, and tells when it becomes due', () => {
    for (const c of ['CON-a', 'CON-b']) for (let id = 1; id <= 2; id++) enqueue(c, id);

    outbox.retryLater(seq('CON-a#1'), T0 + 1000, 503, 'HTTP 503');

    expect(heads(T0 + 10)).toEqual(['CON-b#1']);
    expect(outbox.nextDueAt(T0 + 10)).toBe(T0 + 1000);
    expect(heads(T0 + 1000)).toEqual(['CON-b#1', 'CON-a#1']);
    expect(outbox.get(seq('CON-a#1'))).toMatchObject({ attempts: 1, last_status: 503 });
    // The entry behind it waits too: one conversation, one order.
    expect(heads(T0 + 10)).not.toContain('CON-a#2');
  });

  it("lists a conversation's pending entries in order: parked ones out, replayed ones back in", () => {
    for (let id = 1; id <= 3; id++) enqueue('CON-a', id);
    enqueue('CON-b', 1);
    const pending = (conversation: string, limit = 10): number[] => outbox.pendingSeqs(conversation, limit).map((s) => outbox.get(s)!.event_id);

    expect(pending('CON-a')).toEqual([1, 2, 3]);
    expect(pending('CON-a', 2)).toEqual([1, 2]);
    outbox.park(seq('CON-a#1'), T0, 400, 'HTTP 400');
    expect(pending('CON-a')).toEqual([2, 3]);
    outbox.replay(seq('CON-a#1'), T0);
    outbox.delivered(seq('CON-a#2'));
    expect(pending('CON-a')).toEqual([1, 3]);
    expect(pending('CON-c')).toEqual([]);
  });

  it.runIf(engine === 'sqlite')('finds the heads of a backlog queued before the upgrade that added them', () => {
    const db = sqlite!;
    // The schema as the previous version left it (migrations 1–3): no heads table, a backlog across
    // conversations. Undoing migrations 4 to 8 (revoked tokens, nodes, owners, the outbox rebuilt without a
    // constraint version 3 had, which these rows do not need) by hand only works while 8 is the last one.
    expect(db.pragma('user_version', { simple: true }), 'migrations after 8: rebuild the version-3 schema differently').toBe(8);
    db.exec(`
      DROP TABLE conversation_owners;
      DROP INDEX legs_running_by_node; ALTER TABLE legs DROP COLUMN node_id; ALTER TABLE recordings DROP COLUMN node_id; DROP TABLE nodes;
      DROP TABLE revoked_tokens;
      DROP TRIGGER webhook_heads_after_insert; DROP TRIGGER webhook_heads_after_delete; DROP TRIGGER webhook_heads_after_update;
      DROP TABLE webhook_heads; PRAGMA user_version = 3;`);
    const insert = db.prepare(
      `INSERT INTO webhook_outbox (conversation_id, event_id, payload, created_at, window_start, next_attempt_at) VALUES (?, ?, '{}', ?, ?, ?)`,
    );
    for (const c of ['CON-a', 'CON-b']) for (let id = 1; id <= 3; id++) insert.run(c, id, T0, T0, T0);
    db.prepare(`UPDATE webhook_outbox SET state = 'failed' WHERE conversation_id = 'CON-b' AND event_id = 1`).run();

    migrate(db);
    outbox = new OutboxRepo(db, 'sqlite');

    expect(heads()).toEqual(['CON-a#1', 'CON-b#2']);
  });

  it.runIf(engine === 'sqlite')('keeps a backlog, its heads and its seqs through the upgrade that rebuilds the outbox', () => {
    // A data folder as the previous release left it (schema version 7), with a backlog in two
    // conversations and a third whose entries, the newest of all, were delivered.
    const file = `${place.dir}/previous.sqlite`;
    const previous = new Database(file);
    migrate(previous, 7);
    outbox = new OutboxRepo(previous, 'sqlite');
    const queued = new Map<string, number>();
    for (const [c, n] of [
      ['CON-a', 3],
      ['CON-b', 2],
      ['CON-c', 2],
    ] as const) {
      for (let id = 1; id <= n; id++) queued.set(`${c}#${id}`, outbox.enqueue(event(c, id), T0));
    }
    outbox.delivered(queued.get('CON-a#1')!);
    for (const key of ['CON-c#1', 'CON-c#2']) outbox.delivered(queued.get(key)!);
    const highest = queued.get('CON-c#2')!;
    previous.close();

    const upgraded = new Database(file);
    migrate(upgraded);
    outbox = new OutboxRepo(upgraded, 'sqlite');
    try {
      expect(upgraded.pragma('user_version', { simple: true })).toBe(8);
      const pending = upgraded.prepare("SELECT conversation_id || '#' || event_id AS k, seq FROM webhook_outbox ORDER BY seq").all();
      expect(pending).toEqual(['CON-a#2', 'CON-a#3', 'CON-b#1', 'CON-b#2'].map((k) => ({ k, seq: queued.get(k) })));
      const due = (): string[] =>
        outbox.due(T0, 100).map((h) => {
          const e = outbox.get(h.seq)!;
          return `${e.conversation_id}#${e.event_id}`;
        });
      expect(due()).toEqual(['CON-a#2', 'CON-b#1']);
      // The heads triggers live on the rebuilt table: a delivery moves its conversation's head on.
      outbox.delivered(queued.get('CON-a#2')!);
      expect(due()).toEqual(['CON-a#3', 'CON-b#1']);
      // Seqs keep counting from the highest ever given out, not from the highest still queued.
      expect(outbox.enqueue(event('CON-d', 1), T0)).toBe(highest + 1);
    } finally {
      upgraded.close();
    }
  });

  it.runIf(engine === 'postgres')('finds the heads of a backlog queued before the PostgreSQL migration that added them', () => {
    const db = pg!;
    // The schema of PostgreSQL migration 1: no heads table. Undoing migrations 2 to 6 (heads, nodes, owners, locking head
    // triggers, the outbox's constraint dropped, which these rows do not need) by hand only works while 6 is the last one.
    expect(PG_SCHEMA_VERSION, 'PostgreSQL migrations after 6: rebuild the version-1 schema differently').toBe(6);
    db.exec(`
      DROP TABLE conversation_owners;
      DROP INDEX legs_running_by_node; ALTER TABLE legs DROP COLUMN node_id; ALTER TABLE recordings DROP COLUMN node_id; DROP TABLE nodes;
      DROP TABLE webhook_heads;
      DROP TRIGGER webhook_heads_after_insert ON webhook_outbox; DROP TRIGGER webhook_heads_after_delete ON webhook_outbox;
      DROP TRIGGER webhook_heads_after_update ON webhook_outbox;
      DROP FUNCTION webhook_heads_on_insert(); DROP FUNCTION webhook_heads_on_delete(); DROP FUNCTION webhook_heads_on_update();
      UPDATE legway_schema SET version = 1;`);
    const insert = db.prepare(
      `INSERT INTO webhook_outbox (conversation_id, event_id, payload, created_at, window_start, next_attempt_at) VALUES (?, ?, '{}', ?, ?, ?)`,
    );
    for (const c of ['CON-a', 'CON-b']) for (let id = 1; id <= 3; id++) insert.run(c, id, T0, T0, T0);
    db.prepare(`UPDATE webhook_outbox SET state = 'failed' WHERE conversation_id = 'CON-b' AND event_id = 1`).run();

    migratePg(db);
    outbox = new OutboxRepo(db, 'postgres');

    expect(heads()).toEqual(['CON-a#1', 'CON-b#2']);
  });
});
