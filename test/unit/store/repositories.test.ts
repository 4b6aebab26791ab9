/**
 * The repositories through the store, on a real SQLite file and a real PostgreSQL database, where
 * their SQL differs by dialect: the TTL sweep, current members (SQLite's INDEXED BY), revocations
 * recorded once (INSERT OR IGNORE / ON CONFLICT), the outbox's seq and counts, a unique name taken
 * twice, paging, and the round trip of every kind of value a row holds.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationEvent, Member } from '../../../src/domain/model.js';
import type { Store } from '../../../src/store/store.js';
import { ENGINES, engineStore, usePostgres, type EngineStore } from '../../support/storeEngines.js';

const T0 = '2026-03-01T10:00:00.000Z';
const at = (seconds: number): string => new Date(Date.parse(T0) + seconds * 1000).toISOString();

function member(id: string, conversationId: string, userId: string, state: Member['state']): Member {
  return {
    id,
    conversation_id: conversationId,
    user: { id: userId, name: userId, display_name: userId.toUpperCase() },
    state,
    channel: { type: 'app' },
    media: { audio: true, video: false, muted: false, earmuffed: false },
    timestamp: { invited: T0, ...(state === 'joined' && { joined: T0 }) },
  };
}

usePostgres('the repositories');

describe.each(ENGINES)('repositories (%s)', (engine) => {
  let place: EngineStore;
  let store: Store;

  beforeEach(() => {
    place = engineStore(engine);
    store = place.open();
    const conversation = (id: string, ttl?: number): void =>
      store.conversations.insert({ id, name: id.toLowerCase(), properties: ttl === undefined ? {} : { ttl }, created_at: T0 });
    store.transaction(() => {
      conversation('CON-a', 60);
      conversation('CON-b', 3600);
      conversation('CON-c');
      for (const name of ['alice', 'bob']) store.users.insert({ id: name, name, display_name: name.toUpperCase() }, T0);
    });
  });
  afterEach(() => {
    store.close();
    place.remove();
  });

  it('sweeps the empty conversations whose ttl ran out, to the second', () => {
    store.conversations.setIdleSince('CON-b', null);
    expect(store.conversations.expired(at(59.9))).toEqual([]);
    expect(store.conversations.expired(at(60))).toEqual(['CON-a']);
    store.conversations.setIdleSince('CON-b', T0);
    expect(store.conversations.expired(at(3600)).sort()).toEqual(['CON-a', 'CON-b']);
    store.conversations.markDeleted('CON-a', at(1));
    expect(store.conversations.expired(at(3600))).toEqual(['CON-b']);
  });

  it('finds current members, counts them and tells whether one is joined; left ones drop out', () => {
    store.members.insert(member('MEM-1', 'CON-a', 'alice', 'invited'));
    store.members.insert(member('MEM-2', 'CON-a', 'bob', 'joined'));
    expect(store.members.currentMembers('CON-a').map((m) => m.id)).toEqual(['MEM-1', 'MEM-2']);
    expect(store.members.countCurrent('CON-a')).toBe(2);
    expect(store.members.hasJoined('CON-a')).toBe(true);
    expect(store.members.current('CON-a', 'bob')).toEqual(member('MEM-2', 'CON-a', 'bob', 'joined'));

    store.members.update({ ...member('MEM-2', 'CON-a', 'bob', 'left'), timestamp: { invited: T0, joined: T0, left: at(5) } });
    expect(store.members.hasJoined('CON-a')).toBe(false);
    expect(store.members.countCurrent('CON-a')).toBe(1);
    expect(store.members.currentPlace('CON-a', 'bob')).toBeUndefined();
    expect(store.members.currentPlace('CON-a', 'alice')).toEqual({ id: 'MEM-1', conversation_id: 'CON-a', state: 'invited' });
    expect(store.conversations.list({ size: 10, order: 'asc' }, 'alice').items.map((c) => c.id)).toEqual(['CON-a']);
    expect(store.conversations.list({ size: 10, order: 'asc' }, 'bob').items).toEqual([]);
  });

  it('refuses a second current member and a second active conversation of one name with the unique-violation code', () => {
    store.members.insert(member('MEM-1', 'CON-a', 'alice', 'joined'));
    expect(() => store.transaction(() => store.members.insert(member('MEM-2', 'CON-a', 'alice', 'invited')))).toThrow(
      expect.objectContaining({ code: 'SQLITE_CONSTRAINT_UNIQUE' }),
    );
    expect(() => store.transaction(() => store.conversations.insert({ id: 'CON-d', name: 'con-a', properties: {}, created_at: T0 }))).toThrow(
      expect.objectContaining({ code: 'SQLITE_CONSTRAINT_UNIQUE' }),
    );
    // The store goes on after the refusal, inside a transaction too.
    store.transaction(() => {
      try {
        store.write(() => store.users.insert({ id: 'alice-2', name: 'alice' }, T0));
      } catch {
        // taken
      }
      store.users.insert({ id: 'carol', name: 'carol' }, T0);
    });
    expect(store.users.getByName('carol')).toEqual({ id: 'carol', name: 'carol' });
  });

  it('pages conversations both ways with a cursor, each exactly once', () => {
    const asc = store.conversations.list({ size: 2, order: 'asc' });
    expect(asc.items.map((c) => c.id)).toEqual(['CON-a', 'CON-b']);
    expect(store.conversations.list({ size: 2, order: 'asc', after: asc.next! }).items.map((c) => c.id)).toEqual(['CON-c']);
    const desc = store.conversations.list({ size: 2, order: 'desc' });
    expect(desc.items.map((c) => c.id)).toEqual(['CON-c', 'CON-b']);
    expect(store.conversations.get('CON-a')).toEqual({ id: 'CON-a', name: 'con-a', state: 'active', properties: { ttl: 60 }, timestamp: { created: T0 } });
  });

  it('records a revocation once, and lists them in order', () => {
    expect(store.revokedTokens.add('jti-1', T0)).toBe(true);
    expect(store.revokedTokens.add('jti-1', at(1))).toBe(false);
    expect(store.revokedTokens.add('jti-2', at(2))).toBe(true);
    expect(store.revokedTokens.since(0).map((r) => [r.jti, r.revoked_at])).toEqual([
      ['jti-1', T0],
      ['jti-2', at(2)],
    ]);
    const first = store.revokedTokens.get('jti-1')!;
    expect(store.revokedTokens.since(first.seq).map((r) => r.jti)).toEqual(['jti-2']);
  });

  it("queues events in their conversation's lane, moves its cursor past those delivered, and keeps parked ones apart", () => {
    const event = (id: number): ConversationEvent => ({ id, type: 'text', from: 'MEM-1', timestamp: T0, body: { text: `${id}` }, conversation_id: 'CON-a' });
    expect(store.lanes.pending()).toBe(0);
    for (const id of [1, 2, 3]) {
      store.events.insert(event(id));
      store.lanes.appended('CON-a', id, 1000);
    }
    expect(store.lanes.pending()).toBe(3);
    expect(store.lanes.due(1000, 10)).toMatchObject([{ conversation_id: 'CON-a', delivered_id: 0, pending: 3, next_attempt_at: 1000 }]);
    store.outbox.park(
      { conversation_id: 'CON-a', event_id: 1, payload: JSON.stringify(event(1)), attempts: 1, created_at: 1000, window_start: 1000 },
      2000,
      500,
      'HTTP 500',
    );
    store.lanes.advance({ conversation_id: 'CON-a', through: 1, events: 1, replays: 0 }, 2000);
    expect(store.lanes.pending()).toBe(2);
    expect(store.outbox.failedCount()).toBe(1);
    expect(store.outbox.failed(0, 10)).toMatchObject([
      { state: 'failed', event_id: 1, attempts: 1, last_status: 500, failed_at: 2000, payload: JSON.stringify(event(1)) },
    ]);
    store.lanes.advance({ conversation_id: 'CON-a', through: 3, events: 2, replays: 0 }, 3000);
    expect(store.lanes.pending()).toBe(0);
    expect(store.lanes.due(10_000, 10)).toEqual([]);
    expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: 3, next_attempt_at: null });
  });

  it('keeps legs and recordings as written', () => {
    store.members.insert(member('MEM-1', 'CON-a', 'alice', 'joined'));
    const leg = {
      id: 'LEG-1',
      conversation_id: 'CON-a',
      member_id: 'MEM-1',
      type: 'sip' as const,
      direction: 'inbound' as const,
      status: 'connected' as const,
      media: { muted: true, earmuffed: false, video_muted: false },
      timestamp: { created: T0 },
    };
    store.legs.insert(leg);
    // A transfer moves the leg; a later status change keeps it where it went.
    store.members.insert(member('MEM-2', 'CON-b', 'alice', 'joined'));
    store.legs.move({ ...leg, conversation_id: 'CON-b', member_id: 'MEM-2', timestamp: { created: T0, updated: at(5) } }, at(5));
    store.legs.update({ ...leg, status: 'ending', timestamp: { created: T0, updated: at(6) } }, at(6));
    expect(store.legs.get('LEG-1')).toMatchObject({ conversation_id: 'CON-b', member_id: 'MEM-2', status: 'ending' });
    expect(store.legs.listByConversation('CON-b').map((l) => l.id)).toEqual(['LEG-1']);
    expect(store.legs.listByConversation('CON-a')).toEqual([]);
    store.legs.move(leg, at(7));
    store.legs.update({ ...leg, status: 'ended', end_reason: 'hangup', timestamp: { created: T0, ended: at(9) } }, at(9));
    expect(store.legs.get('LEG-1')).toEqual({ ...leg, status: 'ended', end_reason: 'hangup', timestamp: { created: T0, updated: at(9), ended: at(9) } });
    expect(store.legs.listUnfinished()).toEqual([]);

    store.recordings.insert({
      id: 'REC-1',
      conversation_id: 'CON-a',
      leg_id: 'LEG-1',
      format: 'wav',
      path: 'CON-a/REC-1.wav',
      started_at: T0,
      created_by: 'application',
    });
    expect(store.recordings.listUnfinished().map((r) => r.id)).toEqual(['REC-1']);
    expect(store.recordings.finish('REC-1', { duration_ms: 12_345, size_bytes: 9_876_543_210, ended: at(12) })).toBe(true);
    expect(store.recordings.finish('REC-1', { duration_ms: 1, size_bytes: 1, ended: at(13) })).toBe(false);
    expect(store.recordings.get('REC-1')).toMatchObject({ status: 'done', duration_ms: 12_345, size_bytes: 9_876_543_210, ended_at: at(12) });
  });
});
