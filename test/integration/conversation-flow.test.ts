import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';

describe('a conversation end to end over REST and the client socket', () => {
  let gw: TestGateway;

  beforeEach(async () => {
    gw = await startGateway();
  });
  afterEach(async () => {
    await gw.close();
  });

  it('logs created, joined and texts in id order 1, 2, 3 … and pushes each live under its type name', async () => {
    // Arrange: a conversation with alice (socket) and bob (REST) joined.
    const created = await gw.api('POST', '/v1/conversations', { body: { name: 'standup', display_name: 'Daily standup' } });
    expect(created.status).toBe(201);
    const cid: string = created.body.id;
    expect(cid).toMatch(/^CON-/);

    const invited = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'invited' } });
    expect(invited.status).toBe(201);
    const alice = await gw.connect(await gw.token('alice'));
    const seen = new EventRecorder(alice);
    const joined = await request(alice, 'conversation:join', { conversation_id: cid });
    expect(joined).toMatchObject({ ok: true, member_id: invited.body.id });

    const bob = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'bob' }, state: 'joined' } });
    expect(bob.status).toBe(201);

    // Act: texts from REST (the application speaking for bob) and from alice's socket.
    const fromRest = await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: bob.body.id, body: { text: 'hello from bob' } } });
    expect(fromRest.status).toBe(201);
    const fromSocket = await request(alice, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'hi bob' } });
    expect(fromSocket.ok).toBe(true);
    await seen.waitFor((e) => e.id === fromSocket.event.id);

    // Assert: the log, in order, with the documented shape.
    const listed = await gw.api('GET', `/v1/conversations/${cid}/events?page_size=100`);
    expect(listed.status).toBe(200);
    const events = listed.body._embedded.events;
    expect(events.map((e: any) => e.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events.map((e: any) => e.type)).toEqual(['conversation:created', 'member:invited', 'member:joined', 'member:joined', 'text', 'text']);
    for (const e of events) {
      expect(Object.keys(e).sort()).toEqual(['body', 'conversation_id', 'from', 'id', 'timestamp', 'type']);
      expect(e.conversation_id).toBe(cid);
      expect(new Date(e.timestamp).toISOString()).toBe(e.timestamp);
    }
    expect(events[4]).toMatchObject({ from: bob.body.id, body: { text: 'hello from bob' } });
    expect(events[5]).toMatchObject({ from: invited.body.id, body: { text: 'hi bob' } });

    // Alice's socket got her own member:joined onward, live, each under its type name.
    expect(seen.events.map((e) => [e.name, e.id])).toEqual([
      ['member:joined', 3],
      ['member:joined', 4],
      ['text', 5],
      ['text', 6],
    ]);
    expect(seen.events[2]).toMatchObject({ type: 'text', body: { text: 'hello from bob' }, conversation_id: cid });
  });

  it('a client that reconnects with the last id it saw gets exactly the events it missed, then live ones', async () => {
    const cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'resume' } })).body.id;
    const bob = (await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'bob' }, state: 'joined' } })).body;
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
    const say = (text: string) => gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: bob.id, body: { text } } });

    const first = await gw.connect(await gw.token('alice'));
    const before = new EventRecorder(first);
    await request(first, 'conversation:join', { conversation_id: cid, since: 0 });
    await say('one');
    const lastSeen = (await before.waitFor((e) => e.body?.text === 'one')).id as number;
    first.disconnect();

    // Missed while away.
    await say('two');
    await say('three');

    const second = await gw.connect(await gw.token('alice'));
    const after = new EventRecorder(second);
    const ack = await request(second, 'conversation:join', { conversation_id: cid, since: lastSeen });
    expect(ack.ok).toBe(true);
    await say('four');
    await after.waitFor((e) => e.body?.text === 'four');

    expect(after.events.map((e) => e.body.text)).toEqual(['two', 'three', 'four']);
    expect(after.ids()).toEqual([lastSeen + 1, lastSeen + 2, lastSeen + 3]);
    // The first session saw 1..lastSeen; together the two cover the log once, with no repeats.
    expect([...before.ids(), ...after.ids()]).toEqual(Array.from({ length: lastSeen + 3 }, (_, i) => i + 1));
  });

  it('replays a long backlog in order, each event once, while new events keep arriving', async () => {
    const cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'busy' } })).body.id;
    const bob = (await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'bob' }, state: 'joined' } })).body;
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
    // More than one replay batch, written straight through the service to keep the test quick.
    const backlog = 1200;
    for (let i = 0; i < backlog; i++) {
      gw.app.services.events.post(cid, { type: 'text', from: bob.id, body: { text: `m${i}` } }, { role: 'application', sub: 'backend', join: [] });
    }
    const last = gw.app.services.events.lastId(cid);

    const alice = await gw.connect(await gw.token('alice'));
    const seen = new EventRecorder(alice);
    await request(alice, 'conversation:join', { conversation_id: cid, since: 0 });
    // Live events while the replay is still running.
    const live = [];
    for (let i = 0; i < 20; i++)
      live.push(gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: bob.id, body: { text: `live${i}` } } }));
    await Promise.all(live);
    await seen.waitFor((e) => e.id === last + 20, 15_000);

    expect(seen.ids()).toEqual(Array.from({ length: last + 20 }, (_, i) => i + 1));
  });
});
