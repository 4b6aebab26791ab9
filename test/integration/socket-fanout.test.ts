import type { Socket } from 'socket.io-client';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import type { ConversationEvent } from '../../src/domain/model.js';
import { EventLog } from '../../src/events/eventLog.js';
import { systemClock } from '../../src/lib/clock.js';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';

/**
 * Live fan-out of committed events to many sockets at once (README, "Socket API"): the events of
 * one commit reach the sockets back to back, and each must still go to exactly the sockets that
 * may see it, in id order, once.
 */

const APPLICATION: Principal = { role: 'application', sub: 'backend', join: [] };

let gw: TestGateway | undefined;

afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

interface Joined {
  socket: Socket;
  seen: EventRecorder;
  memberId: string;
}

async function conversationWith(g: TestGateway, name: string, users: string[]): Promise<string> {
  const res = await g.api('POST', '/v1/conversations', { body: { name } });
  expect(res.status).toBe(201);
  const cid = res.body.id as string;
  for (const user of users) {
    expect((await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: user }, state: 'invited' } })).status).toBe(201);
  }
  return cid;
}

/** A socket of `user` (a user, or an operator on the client namespace) joined to `cid`, recording from before its join. */
async function join(g: TestGateway, user: string, cid: string, options: { role?: 'user' | 'operator'; since?: number } = {}): Promise<Joined> {
  const socket = await g.connect(await g.token(user, options.role ?? 'user'));
  const seen = new EventRecorder(socket);
  const ack = await request(socket, 'conversation:join', { conversation_id: cid, ...(options.since !== undefined && { since: options.since }) });
  expect(ack).toMatchObject({ ok: true });
  return { socket, seen, memberId: ack.member_id as string };
}

/** A round trip: its ack is written after every push the server made before reading it. */
async function flush(socket: Socket): Promise<void> {
  const ack = await request(socket, 'test:flush', {});
  expect(ack.error.code).toBe('UnknownRequest');
}

const text = (g: TestGateway, cid: string, from: string, words: string, to?: string): number =>
  g.app.services.events.post(cid, { type: to === undefined ? 'text' : 'custom:whisper', from, to, body: { text: words } }, APPLICATION).id;

describe('events committed together', () => {
  it('each reaches exactly the sockets that may see it: `to` only its sender and target among users, every event for operators', async () => {
    const g = (gw = await startGateway());
    const cid = await conversationWith(g, 'burst', ['alice', 'bob', 'carol']);
    const alice = await join(g, 'alice', cid);
    const bob = await join(g, 'bob', cid);
    const carol = await join(g, 'carol', cid);
    const olgaHere = await join(g, 'olga', cid, { role: 'operator' });
    const watcher = await g.connect(await g.token('oscar', 'operator'), { namespace: '/operator' });
    const watched = new EventRecorder(watcher);
    expect(await request(watcher, 'watch', { conversation_ids: [cid] })).toMatchObject({ ok: true });

    // One turn of the event loop: these are committed together and announced back to back.
    const hello = text(g, cid, alice.memberId, 'hello all');
    const toBob = text(g, cid, alice.memberId, 'for bob', bob.memberId);
    const toCarol = text(g, cid, bob.memberId, 'for carol', carol.memberId);
    const bye = text(g, cid, carol.memberId, 'bye all');
    const marker = text(g, cid, alice.memberId, 'marker');

    const idsFrom = async (seen: EventRecorder): Promise<number[]> => {
      await seen.waitFor((e) => e.id === marker);
      return seen.ids().filter((id) => id >= hello);
    };
    expect(await idsFrom(alice.seen)).toEqual([hello, toBob, bye, marker]);
    expect(await idsFrom(bob.seen)).toEqual([hello, toBob, toCarol, bye, marker]);
    expect(await idsFrom(carol.seen)).toEqual([hello, toCarol, bye, marker]);
    expect(await idsFrom(olgaHere.seen)).toEqual([hello, toBob, toCarol, bye, marker]);
    expect(await idsFrom(watched)).toEqual([hello, toBob, toCarol, bye, marker]);
    // Under its type name, whole.
    expect(bob.seen.events.find((e) => e.id === toBob)).toMatchObject({
      name: 'custom:whisper',
      from: alice.memberId,
      to: bob.memberId,
      body: { text: 'for bob' },
    });
  });

  it('a member who leaves in the middle gets its own member:left and nothing after it; the others get everything', async () => {
    const g = (gw = await startGateway());
    const cid = await conversationWith(g, 'walkout', ['alice', 'bob', 'carol']);
    const alice = await join(g, 'alice', cid);
    const bob = await join(g, 'bob', cid);
    const carol = await join(g, 'carol', cid);

    const before = text(g, cid, bob.memberId, 'before');
    g.app.services.members.leaveAsUser(cid, { role: 'user', sub: 'alice', join: [] });
    const after = text(g, cid, bob.memberId, 'after');
    const later = text(g, cid, carol.memberId, 'later');

    for (const s of [bob, carol]) {
      await s.seen.waitFor((e) => e.id === later);
      const got = s.seen.events.filter((e) => e.id >= before);
      expect(got.map((e) => [e.name, e.id])).toEqual([
        ['text', before],
        ['member:left', before + 1],
        ['text', after],
        ['text', later],
      ]);
      expect(got[1]).toMatchObject({ from: alice.memberId });
    }
    await flush(alice.socket);
    expect(alice.seen.events.filter((e) => e.id >= before).map((e) => [e.name, e.id])).toEqual([
      ['text', before],
      ['member:left', before + 1],
    ]);
  });

  it('a socket that joins with `since` while events keep being committed gets every later id once, in order, as does a socket already live', async () => {
    const g = (gw = await startGateway());
    const cid = await conversationWith(g, 'busy', ['alice', 'bob']);
    const bob = await join(g, 'bob', cid);
    const first = g.app.services.events.lastId(cid) + 1;

    // A burst: a few events per turn, until well after alice's join has been answered.
    const progress = { joined: false, turnsAfterJoin: 30 };
    let last = 0;
    const burst = (async () => {
      while (!progress.joined || progress.turnsAfterJoin-- > 0) {
        for (let i = 0; i < 5; i++) last = text(g, cid, bob.memberId, `burst ${last}`);
        await nextTurn();
      }
    })();
    // Join in the middle of it, from an id long passed: a replay of several batches that meets live events.
    while (last < first + 1300) await nextTurn();
    const since = first + 100;
    const alice = await join(g, 'alice', cid, { since });
    progress.joined = true;
    await burst;
    const end = text(g, cid, bob.memberId, 'end');

    await alice.seen.waitFor((e) => e.id === end, 15_000);
    await bob.seen.waitFor((e) => e.id === end, 15_000);
    const range = (from: number): number[] => Array.from({ length: end - from + 1 }, (_, i) => from + i);
    expect(alice.seen.ids()).toEqual(range(since + 1));
    expect(bob.seen.ids().filter((id) => id >= first)).toEqual(range(first));
  });
});

describe('events another node committed', () => {
  /**
   * Stands for the other nodes: their events are in the shared store (appended here by an event log
   * of their own, which announces nothing to this node's sockets) and reach this node only as the
   * Redis adapter relays them, in whatever order that is.
   */
  function otherNode(g: TestGateway): { append: (cid: string, from: string, words: string) => ConversationEvent; relay: (payload: unknown) => void } {
    let deliver: ((payload: unknown) => void) | undefined;
    g.app.committed.relayThrough({
      serverSideEmit: () => undefined,
      on: (_event, listener) => (deliver = listener),
    });
    const log = new EventLog(g.app.store, systemClock, (err) => {
      throw err;
    });
    return {
      append: (cid, from, words) => log.append({ conversation_id: cid, type: 'text', from, body: { text: words } }),
      relay: (payload) => deliver?.(payload),
    };
  }

  it('relayed out of order, or one of them never: each subscriber still gets every event once, in id order', async () => {
    const g = (gw = await startGateway());
    const cid = await conversationWith(g, 'cluster', ['alice', 'bob']);
    const alice = await join(g, 'alice', cid);
    const bob = await join(g, 'bob', cid);
    const node2 = otherNode(g);
    const before = alice.seen.ids().at(-1) ?? 0;

    const one = node2.append(cid, bob.memberId, 'one');
    const two = node2.append(cid, bob.memberId, 'two');
    const three = node2.append(cid, bob.memberId, 'three');
    // `two` arrives first and `one` late; `three` is never relayed, but a later local event follows it.
    node2.relay(two);
    node2.relay(one);
    const four = text(g, cid, alice.memberId, 'four');
    await alice.seen.waitFor((e) => e.id === four);
    await bob.seen.waitFor((e) => e.id === four);
    await flush(alice.socket);

    for (const party of [alice, bob]) {
      const texts = party.seen.events.filter((e) => e.id > before);
      expect(texts.map((e) => e.id)).toEqual([one.id, two.id, three.id, four]);
      expect(texts.map((e) => e.body.text)).toEqual(['one', 'two', 'three', 'four']);
    }
  });

  it('a malformed relayed message is refused and reaches nobody', async () => {
    const g = (gw = await startGateway());
    const cid = await conversationWith(g, 'cluster-bad', ['alice']);
    const alice = await join(g, 'alice', cid);
    const node2 = otherNode(g);
    const count = alice.seen.events.length;
    node2.relay({ conversation_id: cid, id: 'not a number', type: 'text', from: 'x', timestamp: 'now', body: {} });
    node2.relay('garbage');
    node2.relay({ conversation_id: cid, id: 99, type: 'text', from: 'x', timestamp: 'now', body: 'not an object' });
    await flush(alice.socket);
    expect(alice.seen.events.length).toBe(count);
    expect(g.app.committed.refused).toBe(3);
  });
});
