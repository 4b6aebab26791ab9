/**
 * The event log on a real SQLite file, grouped as the gateway runs it, and on a real PostgreSQL
 * database: ids stay gap-free and in order per conversation whatever rolls back, a batch is written
 * all or none, and a restarted store goes on from the last stored id.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationEvent } from '../../src/domain/model.js';
import { EventLog, type EventDraft } from '../../src/events/eventLog.js';
import { systemClock } from '../../src/lib/clock.js';
import type { Store } from '../../src/store/store.js';
import { ENGINES, engineStore, usePostgres, type EngineStore } from '../support/storeEngines.js';

const A = 'CON-a';
const B = 'CON-b';

usePostgres('the event log ids');

describe.each(ENGINES)('event log ids and batches (%s)', (engine) => {
  let place: EngineStore;
  let store: Store;
  let log: EventLog;
  let announced: ConversationEvent[];

  const open = (): void => {
    store = place.open({ synchronous: 'full', commitWindowMs: 0 });
    log = new EventLog(store, systemClock, (err) => {
      throw err;
    });
    announced = [];
    log.onCommitted((e) => announced.push(e));
  };
  /** What another connection (a restarted gateway) reads: `conversation:id text` in id order. */
  const stored = (): string[] => {
    const db = place.connect();
    try {
      return db
        .prepare<[], { conversation_id: string; id: number; body: string }>('SELECT conversation_id, id, body FROM events ORDER BY conversation_id, id')
        .all()
        .map((r) => `${r.conversation_id}:${r.id} ${(JSON.parse(r.body) as { text: string }).text}`);
    } finally {
      db.close();
    }
  };
  const text = (conversation_id: string, t: string): EventDraft => ({ conversation_id, type: 'text', from: 'MEM-1', body: { text: t } });

  beforeEach(() => {
    place = engineStore(engine);
    const setup = place.open({ synchronous: 'full' });
    for (const id of [A, B]) setup.conversations.insert({ id, name: id, properties: {}, created_at: new Date().toISOString() });
    setup.close();
    open();
  });
  afterEach(() => {
    store.close();
    place.remove();
  });

  it('appendMany writes a batch across conversations with consecutive ids per conversation, announced in order once durable', async () => {
    log.append(text(A, 'a1'));
    const batch = log.appendMany([text(A, 'a2'), text(B, 'b1'), text(A, 'a3')]);
    expect(batch.map((e) => `${e.conversation_id}:${e.id}`)).toEqual(['CON-a:2', 'CON-b:1', 'CON-a:3']);
    // SQLite groups the turn's transactions into one commit; on PostgreSQL each commits (durably) by
    // itself, so what it wrote is announced, and visible to other connections, at once.
    if (engine === 'sqlite') expect(announced).toEqual([]);
    else {
      expect(store.allDurable).toBe(true);
      expect(announced.map((e) => e.id)).toEqual([1, 2, 1, 3]);
      expect(stored()).toEqual(['CON-a:1 a1', 'CON-a:2 a2', 'CON-a:3 a3', 'CON-b:1 b1']);
    }

    await store.durable();
    expect(announced.map((e) => `${e.conversation_id}:${e.id}`)).toEqual(['CON-a:1', 'CON-a:2', 'CON-b:1', 'CON-a:3']);
    expect(stored()).toEqual(['CON-a:1 a1', 'CON-a:2 a2', 'CON-a:3 a3', 'CON-b:1 b1']);
  });

  it('a batch with one invalid body writes nothing, and the next append takes the next id', async () => {
    log.append(text(A, 'a1'));
    expect(() => log.appendMany([text(A, 'a2'), { conversation_id: A, type: 'text', from: 'MEM-1', body: { text: '' } }])).toThrow(
      expect.objectContaining({ code: 'ValidationFailed' }),
    );
    log.append(text(A, 'a2 again'));
    await store.durable();
    expect(stored()).toEqual(['CON-a:1 a1', 'CON-a:2 a2 again']);
    expect(announced.map((e) => e.id)).toEqual([1, 2]);
  });

  it('a batch whose last insert fails takes its earlier events and their ids with it', async () => {
    log.append(text(A, 'a1'));
    // No such conversation: the foreign key refuses the third insert, after two were written.
    expect(() =>
      log.appendBuilt([
        { ...text(A, 'a2'), body: { text: 'a2' } },
        { ...text(B, 'b1'), body: { text: 'b1' } },
        { ...text('CON-none', 'x'), body: { text: 'x' } },
      ]),
    ).toThrow();
    log.append(text(A, 'a2 again'));
    log.append(text(B, 'b1 again'));
    await store.durable();
    expect(stored()).toEqual(['CON-a:1 a1', 'CON-a:2 a2 again', 'CON-b:1 b1 again']);
  });

  it('an inner transaction that fails and is caught gives its id back to the next append of the outer one', async () => {
    store.transaction(() => {
      log.append(text(A, 'a1'));
      try {
        store.transaction(() => {
          log.append(text(A, 'lost'));
          throw new Error('inner refused');
        });
      } catch {
        // The outer transaction goes on without the inner one's writes.
      }
      log.append(text(A, 'a2'));
    });
    await store.durable();
    expect(stored()).toEqual(['CON-a:1 a1', 'CON-a:2 a2']);
    expect(announced.map((e) => e.body)).toEqual([{ text: 'a1' }, { text: 'a2' }]);
  });

  it("keeps each conversation's last_event_id equal to its last stored id at every commit, grouped or not", async () => {
    const counters = (): Record<string, number> => {
      const db = place.connect();
      try {
        const rows = db.prepare<[], { id: string; last_event_id: number }>('SELECT id, last_event_id FROM conversations ORDER BY id').all();
        return Object.fromEntries(rows.map((r) => [r.id, r.last_event_id]));
      } finally {
        db.close();
      }
    };
    log.appendMany([text(A, 'a1'), text(A, 'a2'), text(B, 'b1')]);
    expect(() =>
      store.transaction(() => {
        log.append(text(B, 'lost'));
        throw new Error('refused');
      }),
    ).toThrow('refused');
    await store.durable();
    expect(counters()).toEqual({ [A]: 2, [B]: 1 });

    store.close();
    store = place.open({ synchronous: 'full' });
    log = new EventLog(store, systemClock, () => undefined);
    log.append(text(A, 'a3'));
    expect(counters()).toEqual({ [A]: 3, [B]: 1 });
  });

  it('a restarted store goes on from the last stored id of each conversation', async () => {
    log.appendMany([text(A, 'a1'), text(A, 'a2'), text(B, 'b1')]);
    await store.durable();
    store.close();
    open();
    expect(log.append(text(A, 'a3')).id).toBe(3);
    expect(log.append(text(B, 'b2')).id).toBe(2);
    await store.durable();
    expect(stored()).toEqual(['CON-a:1 a1', 'CON-a:2 a2', 'CON-a:3 a3', 'CON-b:1 b1', 'CON-b:2 b2']);
  });
});
