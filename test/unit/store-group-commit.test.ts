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

  describe('with sync spacing', () => {
    const SPACING_MS = 50;
    const reopen = (spacingMs = SPACING_MS): void => {
      store.close();
      store = Store.open(dir, { synchronous: 'full', commitWindowMs: 0, syncSpacingMs: spacingMs });
      log = new EventLog(store, systemClock, (err) => {
        throw err;
      });
    };
    const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

    it('under load, groups committed closer together than the spacing share WAL syncs, and none is announced before one covers it', async () => {
      reopen();
      const announced: number[] = [];
      /** For each announcement, how many syncs had ended by then. */
      const syncsWhenAnnounced: number[] = [];
      log.onCommitted((e) => {
        announced.push(e.id);
        syncsWhenAnnounced.push(store.commitStats.syncs);
      });
      const before = store.commitStats;
      // A group every 5 ms: each one's sync (about a millisecond) would be over before the next
      // group commits, so without spacing every group would have a sync of its own.
      for (let i = 1; i <= 40; i++) {
        log.append(text(i));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await store.durable();
      const after = store.commitStats;
      const commits = after.commits - before.commits;
      const syncs = after.syncs - before.syncs;
      expect(announced).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(visibleIds()).toEqual(announced);
      expect(commits).toBe(40);
      // The groups of a spacing's worth of commits share one sync.
      expect(syncs).toBeLessThan(commits / 3);
      expect(after.spaced - before.spaced).toBeGreaterThan(0);
      expect(syncsWhenAnnounced.every((n) => n > before.syncs)).toBe(true);
    });

    it('at a light load no sync waits for the spacing, not even one that follows the last at once', async () => {
      reopen();
      const before = store.commitStats;
      // Commits further apart than the spacing on average…
      for (let i = 1; i <= 3; i++) {
        log.append(text(i));
        await store.durable();
        await new Promise((resolve) => setTimeout(resolve, SPACING_MS * 3));
      }
      // …then two in quick succession: the second is synced at once, not held back for company.
      log.append(text(4));
      await store.durable();
      log.append(text(5));
      await store.durable();
      const after = store.commitStats;
      expect(after.commits - before.commits).toBe(5);
      expect(after.syncs - before.syncs).toBe(5);
      expect(after.spaced - before.spaced).toBe(0);
      expect(visibleIds()).toEqual([1, 2, 3, 4, 5]);
    });

    it('a sync someone waits for (a request to answer) is not held back for company', async () => {
      // A spacing far longer than the wait below: only a sync started at once can end inside it.
      reopen(60_000);
      for (let i = 1; i <= 10; i++) {
        log.append(text(i));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const before = store.commitStats;
      expect(before.spaced).toBe(0);
      // Under load now: this group's sync is held back until someone asks for it.
      log.append(text(11));
      await nextTurn();
      expect(store.commitStats.commits).toBeGreaterThan(before.commits);
      expect(store.commitStats.syncs).toBe(before.syncs);
      const outcome = await Promise.race([
        store.durable().then(() => 'durable'),
        new Promise((resolve) => setTimeout(() => resolve('still held back'), 5_000)),
      ]);
      expect(outcome).toBe('durable');
      expect(visibleIds()).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    });

    it('close() syncs and announces a group whose sync was waiting for the spacing', async () => {
      reopen();
      const announced: number[] = [];
      log.onCommitted((e) => announced.push(e.id));
      for (let i = 1; i <= 20; i++) {
        log.append(text(i));
        await nextTurn();
      }
      store.close();
      expect(announced).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(visibleIds()).toEqual(announced);
    });
  });

  it('without a window every transaction commits on its own, as before', () => {
    store.close();
    store = Store.open(dir, { synchronous: 'full' });
    log = new EventLog(store, systemClock, () => undefined);
    log.append(text(1));
    expect(visibleIds()).toEqual([1]);
  });
});
