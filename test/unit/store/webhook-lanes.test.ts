/**
 * The webhook lanes on a real SQLite file: each conversation's queue as a cursor over its event
 * log (appended, due, advance, retry, empty), the parked and replayed deliveries the outbox keeps,
 * and the upgrade that carries the previous per-event outbox over to lanes.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationEvent } from '../../../src/domain/model.js';
import { migrate } from '../../../src/store/migrations.js';
import type { ParkedEvent } from '../../../src/store/outboxRepo.js';
import type { Store } from '../../../src/store/store.js';
import { engineStore, type EngineStore } from '../../support/storeEngines.js';

const T0 = 1_700_000_000_000;
const ISO = new Date(T0).toISOString();

/** The schema version of the release before webhook lanes (migration 9 made them). */
const BEFORE_LANES = 8;

describe('webhook lanes (sqlite)', () => {
  let place: EngineStore;
  let store: Store;

  /** Appends an event to the conversation's log and queues it in its lane, as the webhook's append hook does. */
  const append = (conversation: string, now = T0): number =>
    store.transaction(() => {
      const id = store.events.nextId(conversation);
      const event: ConversationEvent = {
        id,
        type: 'text',
        from: 'MEM-x',
        timestamp: ISO,
        body: { text: `${conversation} ${id}` },
        conversation_id: conversation,
      };
      store.events.insert(event);
      store.lanes.appended(conversation, id, now);
      return id;
    });
  /** Appends an event to the log only (no webhook configured): its lane is not told. */
  const appendUnqueued = (conversation: string): number =>
    store.transaction(() => {
      const id = store.events.nextId(conversation);
      store.events.insert({ id, type: 'text', from: 'MEM-x', timestamp: ISO, body: { text: 'unqueued' }, conversation_id: conversation });
      return id;
    });
  const due = (now = T0, limit = 100): string[] => store.lanes.due(now, limit).map((l) => l.conversation_id);
  const parked = (conversation: string, eventId: number): ParkedEvent => ({
    conversation_id: conversation,
    event_id: eventId,
    payload: `{"id":${eventId}}`,
    attempts: 5,
    created_at: T0,
    window_start: T0,
  });

  beforeEach(() => {
    place = engineStore('sqlite');
    store = place.open();
    store.transaction(() => {
      for (const id of ['CON-a', 'CON-b', 'CON-c']) store.conversations.insert({ id, name: id.toLowerCase(), properties: {}, created_at: ISO });
    });
  });
  afterEach(() => {
    store.close();
    place.remove();
  });

  it('queues a first append in a new lane due at once, and counts further appends without moving its due time', () => {
    expect(store.lanes.get('CON-a')).toBeUndefined();
    const first = append('CON-a', T0);
    expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: first - 1, pending: 1, replays: 0, attempts: 0, window_start: T0, next_attempt_at: T0 });

    append('CON-a', T0 + 50);
    append('CON-a', T0 + 60);
    expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: first - 1, pending: 3, next_attempt_at: T0, window_start: T0 });
    expect(store.lanes.pending()).toBe(3);
    expect(due(T0 - 1)).toEqual([]);
  });

  it('gives due lanes earliest first, ties in the order the lanes were made, and only as many as asked', () => {
    append('CON-c', T0 + 10);
    append('CON-b', T0);
    append('CON-a', T0);
    // CON-b's lane was made before CON-a's: at the same due time it comes first.
    expect(due(T0 + 10)).toEqual(['CON-b', 'CON-a', 'CON-c']);
    expect(due(T0 + 10, 2)).toEqual(['CON-b', 'CON-a']);
    expect(due(T0 + 9)).toEqual(['CON-b', 'CON-a']);
    expect(store.lanes.due(T0, 1)[0]).toMatchObject({ conversation_id: 'CON-b', next_attempt_at: T0 });
    expect(store.lanes.nextDueAt(T0)).toBe(T0 + 10);
  });

  it('moves the cursor on what was delivered, keeps the lane due while some remain and empties it when none do', () => {
    const ids = [append('CON-a'), append('CON-a'), append('CON-a')];
    append('CON-b');
    store.lanes.retryLater('CON-a', T0 + 5, 503, 'HTTP 503');

    store.transaction(() => store.lanes.advance({ conversation_id: 'CON-a', through: ids[1]!, events: 2, replays: 0 }, T0 + 7));
    expect(store.lanes.get('CON-a')).toMatchObject({
      delivered_id: ids[1],
      pending: 1,
      attempts: 0,
      window_start: T0 + 7,
      next_attempt_at: T0 + 7,
      last_status: null,
      last_error: null,
    });
    expect(due(T0 + 7)).toEqual(['CON-b', 'CON-a']);
    expect(store.lanes.pending()).toBe(2);

    store.transaction(() => store.lanes.advance({ conversation_id: 'CON-a', through: ids[2]!, events: 1, replays: 0 }, T0 + 8));
    expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: ids[2], pending: 0, attempts: 0, next_attempt_at: null });
    expect(due(T0 + 1000)).toEqual(['CON-b']);
    expect(store.lanes.pending()).toBe(1);

    // A cursor never moves back (a late settlement through an earlier id).
    append('CON-a', T0 + 9);
    store.lanes.advance({ conversation_id: 'CON-a', through: ids[0]!, events: 0, replays: 0 }, T0 + 10);
    expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: ids[2], pending: 1, next_attempt_at: T0 + 10 });
  });

  it('holds back a lane whose head waits for a retry, counts the attempt and tells when it becomes due', () => {
    append('CON-a');
    append('CON-a');
    append('CON-b');

    store.lanes.retryLater('CON-a', T0 + 1000, 503, 'HTTP 503');
    expect(store.lanes.get('CON-a')).toMatchObject({ attempts: 1, next_attempt_at: T0 + 1000, last_status: 503, last_error: 'HTTP 503', pending: 2 });
    expect(due(T0 + 999)).toEqual(['CON-b']);
    expect(store.lanes.nextDueAt(T0 + 10)).toBe(T0 + 1000);
    expect(due(T0 + 1000)).toEqual(['CON-b', 'CON-a']);

    store.lanes.retryLater('CON-a', T0 + 3000, null, 'timeout');
    expect(store.lanes.get('CON-a')).toMatchObject({ attempts: 2, next_attempt_at: T0 + 3000, last_status: null, last_error: 'timeout' });
    expect(store.lanes.nextDueAt(T0 + 1000)).toBe(T0 + 3000);
    // Still waiting: its deliveries count in the backlog.
    expect(store.lanes.pending()).toBe(3);
    // An append to a waiting lane keeps its due time and its attempts.
    append('CON-a', T0 + 1500);
    expect(store.lanes.get('CON-a')).toMatchObject({ attempts: 2, next_attempt_at: T0 + 3000, pending: 3 });
    expect(store.lanes.nextDueAt(T0 + 3000)).toBeUndefined();
  });

  it('restarts an empty lane at the next queued event: those appended meanwhile were never queued', () => {
    const first = append('CON-a');
    const lane = store.lanes.get('CON-a')!.lane;
    store.lanes.retryLater('CON-a', T0 + 1, 500, 'HTTP 500');
    store.lanes.advance({ conversation_id: 'CON-a', through: first, events: 1, replays: 0 }, T0 + 2);
    expect(store.lanes.get('CON-a')?.next_attempt_at).toBeNull();

    // No webhook configured: these never reach the lane.
    appendUnqueued('CON-a');
    appendUnqueued('CON-a');
    const next = append('CON-a', T0 + 100);

    expect(next).toBe(first + 3);
    expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: next - 1, pending: 1, attempts: 0, window_start: T0 + 100, next_attempt_at: T0 + 100 });
    // The same lane: its place among lanes due at once is kept.
    expect(store.lanes.get('CON-a')?.lane).toBe(lane);
    expect(store.lanes.pending()).toBe(1);
  });

  it('marks a lane empty only if nothing was appended or replayed since it was found empty', () => {
    append('CON-a');
    append('CON-a');
    const seen = store.lanes.get('CON-a')!;

    // Something was appended in between: the lane keeps its queue and stays due.
    const last = append('CON-a');
    store.lanes.markEmpty('CON-a', seen.last_id, seen.replays);
    expect(store.lanes.get('CON-a')).toMatchObject({ pending: 3, last_id: last, next_attempt_at: T0 });
    expect(due()).toEqual(['CON-a']);

    // Something was replayed in between: likewise.
    store.outbox.park(parked('CON-a', 1), T0, 400, 'HTTP 400');
    const seq = store.outbox.failed(0, 10)[0]!.seq;
    const before = store.lanes.get('CON-a')!;
    expect(store.outbox.replay(seq, T0)).toBe('CON-a');
    store.lanes.replayed('CON-a', T0);
    store.lanes.markEmpty('CON-a', before.last_id, before.replays);
    expect(store.lanes.get('CON-a')).toMatchObject({ pending: 3, replays: 1, next_attempt_at: T0 });

    // Nothing came since: it is empty, its cursor at the last queued event.
    store.lanes.retryLater('CON-a', T0 + 5, 500, 'HTTP 500');
    store.lanes.markEmpty('CON-a', last, 1);
    expect(store.lanes.get('CON-a')).toMatchObject({
      delivered_id: last,
      pending: 0,
      replays: 0,
      attempts: 0,
      next_attempt_at: null,
      last_status: null,
      last_error: null,
    });
    expect(due(T0 + 1000)).toEqual([]);
    expect(store.lanes.pending()).toBe(0);
  });

  it('keeps a lane due while a queued event is past its cursor, whatever events it was not told of were delivered too', () => {
    // Event 1 queued, event 2 not (the webhook took fewer types then), both sent (it takes more now).
    const first = append('CON-a');
    const uncounted = appendUnqueued('CON-a');
    store.lanes.advance({ conversation_id: 'CON-a', through: uncounted, events: 2, replays: 0 }, T0 + 1);
    expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: first + 1, pending: 0, next_attempt_at: null });

    const third = append('CON-a', T0 + 2);
    const fourth = append('CON-a', T0 + 2);
    store.lanes.advance({ conversation_id: 'CON-a', through: third, events: 1, replays: 0 }, T0 + 3);
    // The count ran out, but event 4 is queued and not delivered: the lane stays due with it next.
    expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: third, last_id: fourth, next_attempt_at: T0 + 3 });
    expect(due(T0 + 3)).toEqual(['CON-a']);
    store.lanes.advance({ conversation_id: 'CON-a', through: fourth, events: 1, replays: 0 }, T0 + 4);
    expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: fourth, pending: 0, next_attempt_at: null });
  });

  it('parks a delivery and puts it back: its lane is due again with the replay first', () => {
    const a1 = append('CON-a');
    const a2 = append('CON-a');
    append('CON-b');
    // CON-a's head is given up on, then its second event is delivered: the lane is empty.
    store.transaction(() => {
      store.outbox.park(parked('CON-a', a1), T0 + 1, 400, 'HTTP 400');
      store.lanes.advance({ conversation_id: 'CON-a', through: a2, events: 2, replays: 0 }, T0 + 1);
    });
    expect(store.lanes.get('CON-a')?.next_attempt_at).toBeNull();
    expect(store.outbox.failedCount()).toBe(1);
    const [entry] = store.outbox.failed(0, 10);
    expect(entry).toMatchObject({
      conversation_id: 'CON-a',
      event_id: a1,
      state: 'failed',
      attempts: 5,
      last_status: 400,
      last_error: 'HTTP 400',
      failed_at: T0 + 1,
    });
    expect(store.outbox.failed(entry!.seq, 10)).toEqual([]);
    expect(store.outbox.replays('CON-a', 10)).toEqual([]);

    expect(store.outbox.replay(entry!.seq + 1000, T0 + 5)).toBeUndefined();
    expect(store.transaction(() => store.outbox.replay(entry!.seq, T0 + 5))).toBe('CON-a');
    store.lanes.replayed('CON-a', T0 + 5);
    // Replaying it twice does nothing: it is no longer parked.
    expect(store.outbox.replay(entry!.seq, T0 + 6)).toBeUndefined();

    expect(store.lanes.get('CON-a')).toMatchObject({ replays: 1, pending: 0, attempts: 0, window_start: T0 + 5, next_attempt_at: T0 + 5, delivered_id: a2 });
    expect(due(T0 + 5)).toEqual(['CON-b', 'CON-a']);
    expect(store.outbox.failedCount()).toBe(0);
    expect(store.outbox.replays('CON-a', 10)).toEqual([
      expect.objectContaining({ seq: entry!.seq, event_id: a1, state: 'pending', attempts: 0, failed_at: null, next_attempt_at: T0 + 5 }),
    ]);
    expect(store.lanes.pending()).toBe(2);

    // Delivered: the replay leaves the lane, which is empty again.
    store.transaction(() => {
      store.outbox.delivered(entry!.seq);
      store.lanes.advance({ conversation_id: 'CON-a', through: 0, events: 0, replays: 1 }, T0 + 6);
    });
    expect(store.lanes.get('CON-a')).toMatchObject({ replays: 0, delivered_id: a2, next_attempt_at: null });
    expect(store.outbox.get(entry!.seq)).toBeUndefined();
    expect(due(T0 + 6)).toEqual(['CON-b']);
  });

  it('replays every parked delivery: each lane counts its replays again and is due', () => {
    const a = [append('CON-a'), append('CON-a')];
    const b = append('CON-b');
    append('CON-c');
    store.transaction(() => {
      store.outbox.park(parked('CON-a', a[0]!), T0, 410, 'gone');
      store.outbox.park(parked('CON-a', a[1]!), T0, 410, 'gone');
      store.lanes.advance({ conversation_id: 'CON-a', through: a[1]!, events: 2, replays: 0 }, T0);
      store.outbox.park(parked('CON-b', b), T0, 410, 'gone');
      store.lanes.advance({ conversation_id: 'CON-b', through: b, events: 1, replays: 0 }, T0);
    });
    // CON-c waits for a retry: replaying keeps its retry state and due time.
    store.lanes.retryLater('CON-c', T0 + 500, 503, 'HTTP 503');
    expect(store.outbox.failedCount()).toBe(3);
    expect(due(T0 + 10)).toEqual([]);

    expect(store.transaction(() => store.outbox.replayAll(T0 + 10))).toBe(3);
    store.lanes.replayedAll(T0 + 10);

    expect(store.lanes.get('CON-a')).toMatchObject({ replays: 2, pending: 0, next_attempt_at: T0 + 10, attempts: 0 });
    expect(store.lanes.get('CON-b')).toMatchObject({ replays: 1, pending: 0, next_attempt_at: T0 + 10 });
    expect(store.lanes.get('CON-c')).toMatchObject({ replays: 0, pending: 1, next_attempt_at: T0 + 500, attempts: 1 });
    expect(due(T0 + 10)).toEqual(['CON-a', 'CON-b']);
    expect(store.outbox.replays('CON-a', 10).map((r) => r.event_id)).toEqual(a);
    expect(store.outbox.replays('CON-a', 1).map((r) => r.event_id)).toEqual([a[0]]);
    expect(store.outbox.failedCount()).toBe(0);
    expect(store.lanes.pending()).toBe(4);
  });
});

describe('the upgrade to webhook lanes (sqlite)', () => {
  let place: EngineStore;
  beforeEach(() => {
    place = engineStore('sqlite');
  });
  afterEach(() => place.remove());

  it('carries a per-event outbox backlog over to lanes: pending entries become replays, parked ones stay parked', () => {
    // A data folder as the previous release left it, written as its code wrote it.
    const file = join(place.dir, 'legway.sqlite');
    const previous = new Database(file);
    migrate(previous, BEFORE_LANES);
    expect(previous.pragma('user_version', { simple: true })).toBe(BEFORE_LANES);
    expect(previous.prepare("SELECT name FROM sqlite_master WHERE name = 'webhook_heads'").get()).toBeDefined();
    const conversation = previous.prepare(
      "INSERT INTO conversations (id, name, state, properties, last_event_id, created_at) VALUES (?, ?, 'active', '{}', ?, ?)",
    );
    const event = previous.prepare("INSERT INTO events (conversation_id, id, type, from_id, timestamp, body) VALUES (?, ?, 'text', 'MEM-x', ?, '{}')");
    const enqueue = previous.prepare(
      'INSERT INTO webhook_outbox (conversation_id, event_id, payload, created_at, window_start, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const seqs = new Map<string, number>();
    previous.transaction(() => {
      // CON-a: five events; 1 delivered, 2 parked, 3 to 5 pending (4 retried, as the heads' trigger saw).
      conversation.run('CON-a', 'a', 5, ISO);
      for (let id = 1; id <= 5; id++) event.run('CON-a', id, ISO);
      for (let id = 2; id <= 5; id++) {
        seqs.set(`CON-a#${id}`, Number(enqueue.run('CON-a', id, `{"id":${id}}`, T0 + id, T0 + id, T0 + id).lastInsertRowid));
      }
      previous
        .prepare("UPDATE webhook_outbox SET state = 'failed', attempts = 7, failed_at = ?, last_status = 400, last_error = 'HTTP 400' WHERE seq = ?")
        .run(T0 + 20, seqs.get('CON-a#2'));
      // CON-b: only a parked entry left. CON-c: everything delivered.
      conversation.run('CON-b', 'b', 2, ISO);
      for (let id = 1; id <= 2; id++) event.run('CON-b', id, ISO);
      seqs.set('CON-b#2', Number(enqueue.run('CON-b', 2, '{"id":2}', T0, T0, T0).lastInsertRowid));
      previous.prepare("UPDATE webhook_outbox SET state = 'failed', failed_at = ? WHERE seq = ?").run(T0 + 30, seqs.get('CON-b#2'));
      conversation.run('CON-c', 'c', 1, ISO);
      event.run('CON-c', 1, ISO);
    })();
    // The triggers kept the heads: CON-a's is its first pending entry.
    expect(previous.prepare('SELECT conversation_id, seq FROM webhook_heads').all()).toEqual([{ conversation_id: 'CON-a', seq: seqs.get('CON-a#3') }]);
    previous.close();

    const store = place.open();
    try {
      const db = place.connect();
      try {
        expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'webhook_heads' OR type = 'trigger'").all()).toEqual([]);
      } finally {
        db.close();
      }

      expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: 5, pending: 0, replays: 3, attempts: 0, next_attempt_at: T0 + 3, window_start: T0 + 3 });
      expect(store.lanes.get('CON-b')).toMatchObject({ delivered_id: 2, pending: 0, replays: 0, next_attempt_at: null });
      expect(store.lanes.get('CON-c')).toBeUndefined();
      expect(store.lanes.due(T0 + 100, 10).map((l) => l.conversation_id)).toEqual(['CON-a']);
      expect(store.lanes.pending()).toBe(3);

      expect(store.outbox.replays('CON-a', 10).map((r) => [r.seq, r.event_id, r.state])).toEqual([
        [seqs.get('CON-a#3'), 3, 'pending'],
        [seqs.get('CON-a#4'), 4, 'pending'],
        [seqs.get('CON-a#5'), 5, 'pending'],
      ]);
      expect(store.outbox.failedCount()).toBe(2);
      expect(store.outbox.failed(0, 10).map((r) => [r.seq, r.conversation_id, r.event_id, r.attempts])).toEqual([
        [seqs.get('CON-a#2'), 'CON-a', 2, 7],
        [seqs.get('CON-b#2'), 'CON-b', 2, 0],
      ]);

      // The upgraded lanes go on: CON-a's next event queues after its cursor, CON-c gets a lane at its next one.
      store.transaction(() => {
        for (const c of ['CON-a', 'CON-c']) {
          const id = store.events.nextId(c);
          store.events.insert({ id, type: 'text', from: 'MEM-x', timestamp: ISO, body: {}, conversation_id: c });
          store.lanes.appended(c, id, T0 + 200);
        }
      });
      expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: 5, pending: 1, replays: 3, next_attempt_at: T0 + 3 });
      expect(store.lanes.get('CON-c')).toMatchObject({ delivered_id: 1, pending: 1, next_attempt_at: T0 + 200 });
      // Replaying CON-b's parked entry makes its carried-over lane due.
      const seqB = seqs.get('CON-b#2')!;
      expect(store.outbox.replay(seqB, T0 + 300)).toBe('CON-b');
      store.lanes.replayed('CON-b', T0 + 300);
      expect(store.lanes.get('CON-b')).toMatchObject({ replays: 1, next_attempt_at: T0 + 300, window_start: T0 + 300 });
    } finally {
      store.close();
    }
  });
});
