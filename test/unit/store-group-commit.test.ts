/**
 * Group commit on a real SQLite file: the transactions of one event-loop turn share one commit,
 * nothing they announce is announced (nor acknowledged) before that commit, a failed transaction
 * takes only its own writes with it, and ids stay gap-free.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationEvent } from '../../src/domain/model.js';
import { EventLog } from '../../src/events/eventLog.js';
import { systemClock } from '../../src/lib/clock.js';
import { Store } from '../../src/store/store.js';

describe('store group commit', () => {
  let dir: string;
  let store: Store;
  let log: EventLog;
  let other: Database.Database;
  let conversationId: string;

  /** What a second connection (another process, a crash-restarted gateway) sees of the log. */
  const visibleIds = (): number[] =>
    other
      .prepare<[string], { id: number }>('SELECT id FROM events WHERE conversation_id = ? ORDER BY id')
      .all(conversationId)
      .map((r) => r.id);
  const text = (i: number) => ({ conversation_id: conversationId, type: 'text' as const, from: 'MEM-1', body: { text: `t${i}` } });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-group-'));
    // An unwindowed store creates the conversation, committed at once, so the grouped one starts clean.
    const setup = Store.open(dir, { synchronous: 'full' });
    conversationId = 'CON-group';
    setup.conversations.insert({ id: conversationId, name: 'group', properties: {}, created_at: new Date().toISOString() });
    setup.close();
    store = Store.open(dir, { synchronous: 'full', commitWindowMs: 0 });
    log = new EventLog(store, systemClock, (err) => {
      throw err;
    });
    other = new Database(join(dir, 'legway.sqlite'), { readonly: true });
  });
  afterEach(() => {
    other.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('appends of one turn are neither visible nor announced until their shared commit, then all are, in order', async () => {
    const announced: ConversationEvent[] = [];
    log.onCommitted((e) => announced.push(e));

    const ids = [1, 2, 3, 4, 5].map((i) => log.append(text(i)).id);
    expect(ids).toEqual([1, 2, 3, 4, 5]);
    expect(visibleIds()).toEqual([]);
    expect(announced).toEqual([]);

    await store.durable();
    expect(visibleIds()).toEqual([1, 2, 3, 4, 5]);
    expect(announced.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('durable() resolves after the commit callbacks ran, so an acknowledgement follows the pushed event', async () => {
    const order: string[] = [];
    log.onCommitted((e) => order.push(`pushed ${e.id}`));
    log.append(text(1));
    await store.durable().then(() => order.push('acknowledged'));
    expect(order).toEqual(['pushed 1', 'acknowledged']);
  });

  it('a transaction that fails inside a group loses only its own writes and announcements', async () => {
    const announced: number[] = [];
    log.onCommitted((e) => announced.push(e.id));
    log.append(text(1));
    expect(() =>
      store.transaction(() => {
        log.append(text(2));
        throw new Error('refused half-way');
      }),
    ).toThrow('refused half-way');
    log.append(text(3));
    await store.durable();
    // The failed transaction's id is taken again: no gap where it was.
    expect(visibleIds()).toEqual([1, 2]);
    expect(announced).toEqual([1, 2]);
    const stored = other.prepare<[string], { body: string }>('SELECT body FROM events WHERE conversation_id = ? ORDER BY id').all(conversationId);
    expect(stored.map((r) => JSON.parse(r.body) as { text: string }).map((b) => b.text)).toEqual(['t1', 't3']);
  });

  it('each turn commits its own group: what a later turn writes is not held back by an earlier one', async () => {
    log.append(text(1));
    await store.durable();
    expect(visibleIds()).toEqual([1]);
    log.append(text(2));
    expect(visibleIds()).toEqual([1]);
    await store.durable();
    expect(visibleIds()).toEqual([1, 2]);
  });

  it('close() commits the open group', () => {
    log.append(text(1));
    log.append(text(2));
    store.close();
    expect(visibleIds()).toEqual([1, 2]);
  });

  it('without a window every transaction commits on its own, as before', () => {
    store.close();
    store = Store.open(dir, { synchronous: 'full' });
    log = new EventLog(store, systemClock, () => undefined);
    log.append(text(1));
    expect(visibleIds()).toEqual([1]);
  });
});
