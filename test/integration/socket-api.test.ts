import { SignJWT } from 'jose';
import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createConversation, EventRecorder, request, startGateway, TEST_SECRET, type TestGateway } from '../support/gateway.js';

/** The client socket API (README, "Socket API"): handshake, join rules, fan-out, leave, hostile input, limits. */

let gw: TestGateway | undefined;

afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function start(env?: Record<string, string>): Promise<TestGateway> {
  gw = await startGateway(env ? { env } : {});
  return gw;
}

async function addMember(g: TestGateway, cid: string, user: string, state: 'invited' | 'joined'): Promise<any> {
  const res = await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: user }, state } });
  expect(res.status).toBe(201);
  return res.body;
}

/** A connected, joined socket with a recorder started before the join. */
async function joinedSocket(g: TestGateway, user: string, cid: string): Promise<{ socket: Socket; seen: EventRecorder; memberId: string }> {
  const socket = await g.connect(await g.token(user));
  const seen = new EventRecorder(socket);
  const ack = await request(socket, 'conversation:join', { conversation_id: cid });
  expect(ack).toMatchObject({ ok: true });
  return { socket, seen, memberId: ack.member_id as string };
}

async function listEvents(g: TestGateway, cid: string, token?: string): Promise<any[]> {
  const res = await g.api('GET', `/v1/conversations/${cid}/events?page_size=100`, token === undefined ? {} : { token });
  expect(res.status).toBe(200);
  return res.body._embedded.events as any[];
}

async function listMembers(g: TestGateway, cid: string): Promise<any[]> {
  const res = await g.api('GET', `/v1/conversations/${cid}/members?page_size=100`);
  expect(res.status).toBe(200);
  return res.body._embedded.members as any[];
}

/**
 * A round trip on `socket`: its ack is written after every push the server made before reading
 * the request, so once it resolves, anything that was going to reach this socket has arrived.
 */
async function flush(socket: Socket): Promise<void> {
  const ack = await request(socket, 'test:flush', {});
  expect(ack.error.code).toBe('UnknownRequest');
}

function connectError(promise: Promise<unknown>): Promise<Error & { data?: { code?: string } }> {
  return promise.then(
    () => {
      throw new Error('the handshake was expected to fail');
    },
    (err: unknown) => err as Error & { data?: { code?: string } },
  );
}

describe('handshake', () => {
  it.each([
    { why: 'a missing token', auth: {}, reason: /missing token/ },
    { why: 'an empty token', auth: { token: '' }, reason: /missing token/ },
    { why: 'a token that is not a string', auth: { token: 12345 }, reason: /missing token/ },
    { why: 'a garbage token', auth: { token: 'not.a.jwt' }, reason: /malformed/ },
  ])('refuses $why with connect_error naming the reason', async ({ auth, reason }) => {
    const g = await start();
    const err = await connectError(g.connect('', { auth }));
    expect(err.message).toMatch(reason);
    expect(err.data?.code).toBe('Unauthorized');
  });

  it('refuses a token signed with another secret', async () => {
    const g = await start();
    const forged = await g.token('alice', 'user', { secret: 'another-secret-another-secret-another!' });
    const err = await connectError(g.connect(forged));
    expect(err.message).toMatch(/signature/);
    expect(err.data?.code).toBe('Unauthorized');
  });

  it('refuses an expired token', async () => {
    const g = await start();
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ role: 'user', application_id: g.app.config.applicationId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('alice')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(new TextEncoder().encode(TEST_SECRET));
    const err = await connectError(g.connect(expired));
    expect(err.message).toMatch(/expired/);
    expect(err.data?.code).toBe('Unauthorized');
  });

  it('refuses an application token on the client namespace', async () => {
    const g = await start();
    const err = await connectError(g.connect(g.appToken));
    expect(err.message).toMatch(/application/);
    expect(err.data?.code).toBe('Forbidden');
  });

  it('accepts a valid user token, and the connection answers requests', async () => {
    const g = await start();
    const socket = await g.connect(await g.token('alice'));
    expect(socket.connected).toBe(true);
    const ack = await request(socket, 'conversation:join', { conversation_id: 'no-such-room' });
    expect(ack).toMatchObject({ ok: false, error: { code: 'ConversationNotFound' } });
  });
});

describe('joining a conversation', () => {
  it('refuses a user who is neither a member nor named by its token, and creates no member', async () => {
    const g = await start();
    const cid = await createConversation(g, 'private');
    await addMember(g, cid, 'bob', 'joined');
    const membersBefore = await listMembers(g, cid);
    const eventsBefore = await listEvents(g, cid);

    const mallory = await g.connect(await g.token('mallory', 'user', { join: ['some-other-room'] }));
    const byId = await request(mallory, 'conversation:join', { conversation_id: cid });
    const byName = await request(mallory, 'conversation:join', { conversation_id: 'private' });

    // The same refusal as for a conversation that does not exist: nothing tells mallory it does.
    for (const ack of [byId, byName]) {
      expect(ack).toEqual({ ok: false, error: { code: 'ConversationNotFound', message: 'conversation not found or not allowed' } });
    }
    expect(await listMembers(g, cid)).toEqual(membersBefore);
    expect(await listEvents(g, cid)).toEqual(eventsBefore);
    // Nor may mallory send or read there.
    const sent = await request(mallory, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'let me in' } });
    expect(sent.error.code).toBe('ConversationNotFound');
  });

  it('lets a token whose join claim names the conversation join it by name', async () => {
    const g = await start();
    const cid = await createConversation(g, 'room-name');
    const other = await createConversation(g, 'another-room');
    const socket = await g.connect(await g.token('alice', 'user', { join: ['room-name'] }));
    const seen = new EventRecorder(socket);

    const ack = await request(socket, 'conversation:join', { conversation_id: 'room-name' });
    expect(ack).toMatchObject({ ok: true, conversation_id: cid });
    expect(ack.member_id).toMatch(/^MEM-/);
    const joined = await seen.waitFor((e) => e.type === 'member:joined');
    expect(joined).toMatchObject({ type: 'member:joined', from: ack.member_id, conversation_id: cid });
    expect(seen.events[0]).toMatchObject({ name: 'member:joined', id: joined.id });

    const members = await listMembers(g, cid);
    expect(members).toHaveLength(1);
    expect(members[0]).toMatchObject({ id: ack.member_id, state: 'joined', user: { name: 'alice' } });

    // The claim names one room, not the others.
    const refused = await request(socket, 'conversation:join', { conversation_id: other });
    expect(refused.error.code).toBe('ConversationNotFound');
    expect(await listMembers(g, other)).toEqual([]);
  });

  it("lets a token with join ['*'] join any conversation, by id or by name", async () => {
    const g = await start();
    const first = await createConversation(g, 'first');
    const second = await createConversation(g, 'second');
    const socket = await g.connect(await g.token('alice', 'user', { join: ['*'] }));

    const a = await request(socket, 'conversation:join', { conversation_id: first });
    const b = await request(socket, 'conversation:join', { conversation_id: 'second' });
    expect(a).toMatchObject({ ok: true, conversation_id: first });
    expect(b).toMatchObject({ ok: true, conversation_id: second });
    expect((await listMembers(g, first)).map((m) => m.user.name)).toEqual(['alice']);
    expect((await listMembers(g, second)).map((m) => m.user.name)).toEqual(['alice']);
  });

  it('an invited member joins: same member id, and its member:joined is pushed first', async () => {
    const g = await start();
    const cid = await createConversation(g, 'invite-only');
    const invited = await addMember(g, cid, 'alice', 'invited');

    const { seen, memberId } = await joinedSocket(g, 'alice', cid);
    expect(memberId).toBe(invited.id);
    const joined = await seen.waitFor((e) => e.type === 'member:joined');
    expect(seen.events[0]).toMatchObject({ name: 'member:joined', id: joined.id });
    expect(joined).toMatchObject({ from: invited.id, body: { member_id: invited.id, state: 'joined' } });
    const member = (await listMembers(g, cid)).find((m) => m.id === invited.id);
    expect(member.state).toBe('joined');
  });

  it('joining twice is harmless: same member, one member:joined, each later event pushed once', async () => {
    const g = await start();
    const cid = await createConversation(g, 'twice');
    const bob = await addMember(g, cid, 'bob', 'joined');
    await addMember(g, cid, 'alice', 'invited');
    const { socket, seen, memberId } = await joinedSocket(g, 'alice', cid);

    const again = await request(socket, 'conversation:join', { conversation_id: cid });
    expect(again).toMatchObject({ ok: true, member_id: memberId });

    const joins = (await listEvents(g, cid)).filter((e) => e.type === 'member:joined' && e.from === memberId);
    expect(joins).toHaveLength(1);
    expect(await listMembers(g, cid)).toHaveLength(2);

    const say = (text: string) => g.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: bob.id, body: { text } } });
    const first = (await say('after the second join')).body;
    await say('marker');
    await seen.waitFor((e) => e.body?.text === 'marker');
    expect(seen.events.filter((e) => e.id === first.id)).toHaveLength(1);
    expect(seen.events.filter((e) => e.type === 'member:joined' && e.from === memberId)).toHaveLength(1);
  });

  it('answers ConversationNotFound for an unknown id, an unknown name and a deleted conversation', async () => {
    const g = await start();
    const gone = await createConversation(g, 'gone');
    expect((await g.api('DELETE', `/v1/conversations/${gone}`)).status).toBe(204);
    const socket = await g.connect(await g.token('alice', 'user', { join: ['*'] }));

    for (const ref of ['CON-00000000-0000-4000-8000-000000000000', 'nowhere', gone, 'gone']) {
      const ack = await request(socket, 'conversation:join', { conversation_id: ref });
      expect(ack).toMatchObject({ ok: false, error: { code: 'ConversationNotFound' } });
    }
  });
});

describe('live fan-out', () => {
  it('members receive each other’s text, typing and receipts under their type names, and nothing leaks to another conversation', async () => {
    const g = await start();
    const cid = await createConversation(g, 'chat');
    const elsewhere = await createConversation(g, 'elsewhere');
    await addMember(g, cid, 'alice', 'invited');
    await addMember(g, cid, 'bob', 'invited');
    await addMember(g, elsewhere, 'carol', 'invited');
    const alice = await joinedSocket(g, 'alice', cid);
    const bob = await joinedSocket(g, 'bob', cid);
    const carol = await joinedSocket(g, 'carol', elsewhere);

    const hello = await request(alice.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'hello bob' } });
    expect(hello).toMatchObject({ ok: true, event: { type: 'text', from: alice.memberId, conversation_id: cid, body: { text: 'hello bob' } } });
    expect(await bob.seen.waitFor((e) => e.id === hello.event.id)).toEqual({ name: 'text', ...hello.event });
    expect(bob.seen.events.find((e) => e.id === hello.event.id)).toEqual({ name: 'text', ...hello.event });

    const typingOn = await request(bob.socket, 'event:send', { conversation_id: cid, type: 'text:typing:on', body: {} });
    const typingOff = await request(bob.socket, 'event:send', { conversation_id: cid, type: 'text:typing:off', body: {} });
    const delivered = await request(bob.socket, 'event:send', { conversation_id: cid, type: 'text:delivered', body: { event_id: hello.event.id } });
    const seenReceipt = await request(bob.socket, 'event:send', { conversation_id: cid, type: 'text:seen', body: { event_id: hello.event.id } });
    const reply = await request(bob.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'hi alice' } });
    for (const ack of [typingOn, typingOff, delivered, seenReceipt, reply]) expect(ack.ok).toBe(true);

    await alice.seen.waitFor((e) => e.id === reply.event.id);
    const fromBob = alice.seen.events.filter((e) => e.from === bob.memberId && e.type !== 'member:joined');
    expect(fromBob.map((e) => [e.name, e.type])).toEqual([
      ['text:typing:on', 'text:typing:on'],
      ['text:typing:off', 'text:typing:off'],
      ['text:delivered', 'text:delivered'],
      ['text:seen', 'text:seen'],
      ['text', 'text'],
    ]);
    expect(fromBob[3]).toMatchObject({ body: { event_id: hello.event.id }, conversation_id: cid });
    expect(fromBob[4]).toMatchObject({ body: { text: 'hi alice' } });
    // Each socket got the conversation's events in id order, each once.
    await bob.seen.waitFor((e) => e.id === reply.event.id);
    for (const s of [alice.seen, bob.seen]) {
      const ids = s.ids();
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      expect(new Set(ids).size).toBe(ids.length);
    }

    // Carol, in another conversation, sees her own marker and nothing of the chat.
    const marker = await request(carol.socket, 'event:send', { conversation_id: elsewhere, type: 'text', body: { text: 'marker' } });
    await carol.seen.waitFor((e) => e.id === marker.event.id && e.conversation_id === elsewhere);
    expect(carol.seen.events.every((e) => e.conversation_id === elsewhere)).toBe(true);
    expect(carol.seen.events.map((e) => e.name)).toEqual(['member:joined', 'text']);
    // And carol cannot send into the chat either.
    const intrusion = await request(carol.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'psst' } });
    expect(intrusion.error.code).toBe('ConversationNotFound');
  });

  it('an event with `to` reaches the target and the sender only: not a third member’s socket, nor its REST listing', async () => {
    const g = await start();
    const cid = await createConversation(g, 'whisper');
    for (const name of ['alice', 'bob', 'dave']) await addMember(g, cid, name, 'invited');
    const alice = await joinedSocket(g, 'alice', cid);
    const bob = await joinedSocket(g, 'bob', cid);
    const dave = await joinedSocket(g, 'dave', cid);

    const secret = await request(alice.socket, 'event:send', {
      conversation_id: cid,
      type: 'custom:whisper',
      body: { note: 'for bob only' },
      to: bob.memberId,
    });
    expect(secret).toMatchObject({ ok: true, event: { type: 'custom:whisper', from: alice.memberId, to: bob.memberId } });
    const marker = await request(alice.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'marker' } });

    // Target and sender get it under its type name.
    expect(await bob.seen.waitFor((e) => e.id === secret.event.id)).toMatchObject(secret.event);
    await alice.seen.waitFor((e) => e.id === secret.event.id);
    for (const s of [alice.seen, bob.seen]) expect(s.events.find((e) => e.id === secret.event.id)?.name).toBe('custom:whisper');
    // Dave gets the later marker but not the whisper.
    await dave.seen.waitFor((e) => e.id === marker.event.id);
    expect(dave.seen.events.some((e) => e.id === secret.event.id || e.type === 'custom:whisper')).toBe(false);

    // Over REST, with each user's own token.
    const asDave = await listEvents(g, cid, await g.token('dave'));
    expect(asDave.some((e) => e.id === secret.event.id)).toBe(false);
    expect(asDave.some((e) => e.id === marker.event.id)).toBe(true);
    const single = await g.api('GET', `/v1/conversations/${cid}/events/${secret.event.id}`, { token: await g.token('dave') });
    expect(single.status).toBe(404);
    const asBob = await listEvents(g, cid, await g.token('bob'));
    expect(asBob.find((e) => e.id === secret.event.id)).toMatchObject({ body: { note: 'for bob only' } });
    const asApp = await listEvents(g, cid);
    expect(asApp.some((e) => e.id === secret.event.id)).toBe(true);
  });
});

describe('leaving', () => {
  it('after conversation:leave the socket gets no more events, and its event:send is refused', async () => {
    const g = await start();
    const cid = await createConversation(g, 'leaving');
    await addMember(g, cid, 'alice', 'invited');
    await addMember(g, cid, 'bob', 'invited');
    const alice = await joinedSocket(g, 'alice', cid);
    const bob = await joinedSocket(g, 'bob', cid);

    const left = await request(alice.socket, 'conversation:leave', { conversation_id: cid });
    expect(left).toMatchObject({ ok: true, member_id: alice.memberId });
    const ownLeft = await alice.seen.waitFor((e) => e.type === 'member:left');
    expect(ownLeft.from).toBe(alice.memberId);
    await bob.seen.waitFor((e) => e.type === 'member:left' && e.from === alice.memberId);

    const after = await request(bob.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'are you there?' } });
    expect(after.ok).toBe(true);
    await bob.seen.waitFor((e) => e.id === after.event.id);
    await flush(alice.socket);
    expect(alice.seen.events.some((e) => e.id >= after.event.id)).toBe(false);
    expect(alice.seen.events.at(-1)).toMatchObject({ name: 'member:left', id: ownLeft.id });

    const before = await listEvents(g, cid);
    const refused = await request(alice.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'still here' } });
    expect(refused).toMatchObject({ ok: false, error: { code: 'ConversationNotFound' } });
    const leaveAgain = await request(alice.socket, 'conversation:leave', { conversation_id: cid });
    expect(leaveAgain.ok).toBe(false);
    expect(await listEvents(g, cid)).toEqual(before);
    expect((await listMembers(g, cid)).find((m) => m.id === alice.memberId).state).toBe('left');
  });

  it('a member removed over REST gets its member:left, then nothing more on its socket', async () => {
    const g = await start();
    const cid = await createConversation(g, 'removed');
    await addMember(g, cid, 'alice', 'invited');
    await addMember(g, cid, 'bob', 'invited');
    const alice = await joinedSocket(g, 'alice', cid);
    const bob = await joinedSocket(g, 'bob', cid);

    const removed = await g.api('PATCH', `/v1/conversations/${cid}/members/${alice.memberId}`, { body: { state: 'left' } });
    expect(removed.status).toBe(200);
    const ownLeft = await alice.seen.waitFor((e) => e.type === 'member:left' && e.from === alice.memberId);

    const after = await request(bob.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'she is gone' } });
    await bob.seen.waitFor((e) => e.id === after.event.id);
    await flush(alice.socket);
    expect(alice.seen.events.at(-1)).toMatchObject({ name: 'member:left', id: ownLeft.id });
  });
});

describe('deleting a conversation over REST', () => {
  it('joined sockets receive member:left, then conversation:deleted', async () => {
    const g = await start();
    const cid = await createConversation(g, 'doomed');
    await addMember(g, cid, 'alice', 'invited');
    await addMember(g, cid, 'bob', 'invited');
    const alice = await joinedSocket(g, 'alice', cid);
    const bob = await joinedSocket(g, 'bob', cid);

    expect((await g.api('DELETE', `/v1/conversations/${cid}`)).status).toBe(204);

    for (const s of [alice, bob]) {
      const deleted = await s.seen.waitFor((e) => e.type === 'conversation:deleted');
      expect(deleted).toMatchObject({ type: 'conversation:deleted', conversation_id: cid, body: { id: cid, name: 'doomed' } });
      const ownLeft = s.seen.events.find((e) => e.type === 'member:left' && e.from === s.memberId);
      expect(ownLeft).toBeDefined();
      expect(ownLeft.id).toBeLessThan(deleted.id);
      // conversation:deleted is the last thing pushed.
      await flush(s.socket);
      expect(s.seen.events.at(-1)).toMatchObject({ name: 'conversation:deleted', id: deleted.id });
    }

    const rejoin = await request(alice.socket, 'conversation:join', { conversation_id: cid });
    expect(rejoin.error.code).toBe('ConversationNotFound');
    const send = await request(bob.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'hello?' } });
    expect(send.error.code).toBe('ConversationNotFound');
  });
});

describe('hostile payloads', () => {
  const SQL = "x' OR '1'='1'; DROP TABLE events; --";
  const cases: { request: string; payload: (cid: string) => unknown; code: string }[] = [
    // Not an object.
    { request: 'conversation:join', payload: () => 'a string', code: 'ValidationFailed' },
    { request: 'conversation:join', payload: () => 42, code: 'ValidationFailed' },
    { request: 'conversation:join', payload: () => null, code: 'ValidationFailed' },
    { request: 'conversation:join', payload: (cid) => [cid], code: 'ValidationFailed' },
    { request: 'event:send', payload: () => 'text', code: 'ValidationFailed' },
    { request: 'event:send', payload: () => 7, code: 'ValidationFailed' },
    { request: 'event:send', payload: () => null, code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => [cid, 'text', { text: 'hi' }], code: 'ValidationFailed' },
    { request: 'conversation:leave', payload: () => 'x', code: 'ValidationFailed' },
    { request: 'conversation:leave', payload: () => null, code: 'ValidationFailed' },
    // Missing fields.
    { request: 'conversation:join', payload: () => ({}), code: 'ValidationFailed' },
    { request: 'conversation:leave', payload: () => ({}), code: 'ValidationFailed' },
    { request: 'event:send', payload: () => ({}), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text' }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text:seen', body: {} }), code: 'ValidationFailed' },
    // Wrong types.
    { request: 'conversation:join', payload: () => ({ conversation_id: 42 }), code: 'ValidationFailed' },
    { request: 'conversation:join', payload: () => ({ conversation_id: '' }), code: 'ValidationFailed' },
    { request: 'conversation:join', payload: () => ({ conversation_id: { $ne: null } }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 7, body: { text: 'hi' } }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text', body: 'hi' }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text', body: { text: 5 } }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text', body: { text: 'hi' }, to: 5 }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text:seen', body: { event_id: '1' } }), code: 'ValidationFailed' },
    // Unknown extra keys.
    { request: 'conversation:join', payload: (cid) => ({ conversation_id: cid, admin: true }), code: 'ValidationFailed' },
    { request: 'conversation:leave', payload: (cid) => ({ conversation_id: cid, everyone: true }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text', body: { text: 'hi' }, from: 'MEM-x' }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text', body: { text: 'hi', html: '<b>' } }), code: 'ValidationFailed' },
    // since out of range or of the wrong type.
    { request: 'conversation:join', payload: (cid) => ({ conversation_id: cid, since: -1 }), code: 'ValidationFailed' },
    { request: 'conversation:join', payload: (cid) => ({ conversation_id: cid, since: 1e300 }), code: 'ValidationFailed' },
    { request: 'conversation:join', payload: (cid) => ({ conversation_id: cid, since: Number.MAX_SAFE_INTEGER + 2 }), code: 'ValidationFailed' },
    { request: 'conversation:join', payload: (cid) => ({ conversation_id: cid, since: '3' }), code: 'ValidationFailed' },
    { request: 'conversation:join', payload: (cid) => ({ conversation_id: cid, since: 1.5 }), code: 'ValidationFailed' },
    { request: 'conversation:join', payload: (cid) => ({ conversation_id: cid, since: null }), code: 'ValidationFailed' },
    // Types a client may not send.
    ...[
      'member:joined',
      'member:left',
      'conversation:deleted',
      'conversation:created',
      'audio:mute:on',
      'rtc:offer',
      'event:delete',
      'no-such-type',
      'custom:',
      'custom:bad name',
    ].map((type) => ({
      request: 'event:send',
      payload: (cid: string) => ({ conversation_id: cid, type, body: {} }),
      code: 'ValidationFailed',
    })),
    // Bodies over their limits.
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text', body: { text: 'x'.repeat(5000) } }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'custom:big', body: { blob: 'x'.repeat(20_000) } }), code: 'ValidationFailed' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'custom:deep', body: nested(40) }), code: 'ValidationFailed' },
    { request: 'conversation:join', payload: () => ({ conversation_id: 'C'.repeat(10_000) }), code: 'ValidationFailed' },
    // References to things that do not exist.
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text:seen', body: { event_id: 999_999 } }), code: 'EventNotFound' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text', body: { text: 'hi' }, to: 'MEM-nobody' }), code: 'MemberNotFound' },
    { request: 'event:send', payload: (cid) => ({ conversation_id: cid, type: 'text', body: { text: 'hi' }, to: `MEM-' OR 1=1 --` }), code: 'MemberNotFound' },
    // SQL metacharacters where ids go.
    { request: 'conversation:join', payload: () => ({ conversation_id: SQL }), code: 'ConversationNotFound' },
    { request: 'conversation:join', payload: () => ({ conversation_id: `CON-${SQL}` }), code: 'ConversationNotFound' },
    { request: 'conversation:join', payload: () => ({ conversation_id: '%' }), code: 'ConversationNotFound' },
    { request: 'conversation:leave', payload: () => ({ conversation_id: SQL }), code: 'ConversationNotFound' },
    { request: 'event:send', payload: () => ({ conversation_id: SQL, type: 'text', body: { text: 'hi' } }), code: 'ConversationNotFound' },
    // Unknown requests, including names that exist on every JavaScript object.
    ...['conversation:delete', 'admin', 'rtc:unknown', 'constructor', 'toString', 'hasOwnProperty', '__proto__'].map((name) => ({
      request: name,
      payload: (cid: string) => ({ conversation_id: cid }),
      code: 'UnknownRequest',
    })),
  ];

  it('answers each with an error ack with a stable code, changes nothing, and keeps the socket connected', async () => {
    const g = await start({ LEGWAY_SOCKET_RATE_LIMIT: '100000', LEGWAY_TOKEN_RATE_LIMIT: '100000' });
    const cid = await createConversation(g, 'hostile');
    await addMember(g, cid, 'alice', 'invited');
    await addMember(g, cid, 'bob', 'joined');
    const alice = await joinedSocket(g, 'alice', cid);
    const text = await request(alice.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'the only text' } });
    expect(text.ok).toBe(true);
    const eventsBefore = await listEvents(g, cid);
    const membersBefore = await listMembers(g, cid);
    const conversationsBefore = (await g.api('GET', '/v1/conversations?page_size=100')).body;

    const failures: string[] = [];
    for (const c of cases) {
      const payload = c.payload(cid);
      const ack = await request(alice.socket, c.request, payload).catch((err: unknown) => ({ noAck: String(err) }));
      const shown = `${c.request} ${JSON.stringify(payload).slice(0, 80)}`;
      if (ack?.ok !== false || ack.error?.code !== c.code) failures.push(`${shown} → ${JSON.stringify(ack).slice(0, 200)}`);
      else if (typeof ack.error.message !== 'string' || ack.error.message.length === 0 || ack.error.message.length > 1000) {
        failures.push(`${shown} → unbounded or empty message`);
      }
      if (!alice.socket.connected) failures.push(`${shown} → socket disconnected`);
    }
    expect(failures).toEqual([]);

    expect(await listEvents(g, cid)).toEqual(eventsBefore);
    expect(await listMembers(g, cid)).toEqual(membersBefore);
    expect((await g.api('GET', '/v1/conversations?page_size=100')).body).toEqual(conversationsBefore);
    // Nothing was pushed for any of it.
    await flush(alice.socket);
    expect(alice.seen.events.map((e) => e.id)).toEqual([eventsBefore.at(-2).id, text.event.id]);
    // The connection still works.
    const ok = await request(alice.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'still fine' } });
    expect(ok).toMatchObject({ ok: true, event: { id: text.event.id + 1 } });
  });

  it('a numeric event name gets an UnknownRequest ack and the gateway keeps serving', async () => {
    const g = await start();
    const cid = await createConversation(g, 'numeric');
    await addMember(g, cid, 'alice', 'invited');
    const alice = await joinedSocket(g, 'alice', cid);
    const ack = await new Promise<any>((resolve) => {
      (alice.socket as unknown as { emit: (name: number, payload: unknown, cb: (a: unknown) => void) => void }).emit(42, {}, resolve);
    });
    expect(ack).toMatchObject({ ok: false, error: { code: 'UnknownRequest' } });
    const ok = await request(alice.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'still here' } });
    expect(ok.ok).toBe(true);
  });

  it('a request without an ack callback does not break the socket: the next request works and nothing changed', async () => {
    const g = await start();
    const cid = await createConversation(g, 'no-ack');
    await addMember(g, cid, 'alice', 'invited');
    const alice = await joinedSocket(g, 'alice', cid);
    const before = await listEvents(g, cid);

    alice.socket.emit('event:send', 'garbage');
    alice.socket.emit('event:send', { conversation_id: cid, type: 'member:left', body: {} });
    alice.socket.emit('conversation:join');
    alice.socket.emit('conversation:leave', { conversation_id: 'nowhere' });
    alice.socket.emit('no-such-request', { x: 1 });

    const next = await request(alice.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'next' } });
    expect(next).toMatchObject({ ok: true, event: { id: before.at(-1).id + 1 } });
    expect(alice.socket.connected).toBe(true);
    expect((await listEvents(g, cid)).map((e) => e.id)).toEqual([...before.map((e) => e.id), next.event.id]);
    expect((await g.api('GET', '/healthz', { token: null })).status).toBe(200);
  });

  it('a message over the payload limit disconnects that socket only', async () => {
    const g = await start();
    const cid = await createConversation(g, 'big');
    await addMember(g, cid, 'alice', 'invited');
    await addMember(g, cid, 'bob', 'invited');
    const alice = await joinedSocket(g, 'alice', cid);
    const bob = await joinedSocket(g, 'bob', cid);
    const before = await listEvents(g, cid);

    const disconnected = new Promise<string>((resolve) => alice.socket.once('disconnect', (reason) => resolve(reason)));
    const huge = request(alice.socket, 'event:send', { conversation_id: cid, type: 'custom:huge', body: { blob: 'x'.repeat(200_000) } });
    huge.catch(() => undefined);
    const reason = await disconnected;
    expect(reason).toMatch(/transport (close|error)/);
    expect(alice.socket.connected).toBe(false);

    expect(bob.socket.connected).toBe(true);
    const still = await request(bob.socket, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'still here' } });
    expect(still.ok).toBe(true);
    await bob.seen.waitFor((e) => e.id === still.event.id);
    const after = await listEvents(g, cid);
    expect(after.map((e) => e.id)).toEqual([...before.map((e) => e.id), still.event.id]);
    expect(after.some((e) => e.type === 'custom:huge')).toBe(false);
    expect((await g.api('GET', '/healthz', { token: null })).status).toBe(200);

    // Alice can come back on a new connection.
    const back = await g.connect(await g.token('alice'));
    expect((await request(back, 'conversation:join', { conversation_id: cid })).ok).toBe(true);
  });
});

describe('rate limits', () => {
  it('a burst over LEGWAY_SOCKET_RATE_LIMIT gets RateLimited acks on that connection only', async () => {
    const g = await start({ LEGWAY_SOCKET_RATE_LIMIT: '3' });
    const cid = await createConversation(g, 'limited');
    await addMember(g, cid, 'alice', 'invited');
    await addMember(g, cid, 'bob', 'invited');
    const alice = await g.connect(await g.token('alice'));
    const bob = await g.connect(await g.token('bob'));
    expect((await request(alice, 'conversation:join', { conversation_id: cid })).ok).toBe(true);
    const before = await listEvents(g, cid);

    const burst = await Promise.all(
      Array.from({ length: 10 }, (_, i) => request(alice, 'event:send', { conversation_id: cid, type: 'text', body: { text: `burst ${i}` } })),
    );
    const ok = burst.filter((a) => a.ok === true);
    const limited = burst.filter((a) => a.ok === false);
    expect(ok.length).toBeGreaterThan(0);
    expect(limited.length).toBeGreaterThan(0);
    // At most the bucket plus one refill (the burst may straddle a window).
    expect(ok.length).toBeLessThanOrEqual(6);
    for (const a of limited) {
      expect(a.error.code).toBe('RateLimited');
      expect(a.error.message).toMatch(/retry/);
    }
    expect(alice.connected).toBe(true);
    // Only the accepted ones are in the log.
    const added = (await listEvents(g, cid)).slice(before.length);
    expect(added.map((e) => e.id).sort((x, y) => x - y)).toEqual(ok.map((a) => a.event.id).sort((x, y) => x - y));

    // Bob's connection has its own budget.
    const bobAcks = [
      await request(bob, 'conversation:join', { conversation_id: cid }),
      await request(bob, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'bob 1' } }),
      await request(bob, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'bob 2' } }),
    ];
    expect(bobAcks.map((a) => a.ok)).toEqual([true, true, true]);
  });

  it('LEGWAY_TOKEN_RATE_LIMIT is shared by every connection of one user', async () => {
    const g = await start({ LEGWAY_SOCKET_RATE_LIMIT: '1000', LEGWAY_TOKEN_RATE_LIMIT: '4' });
    const cid = await createConversation(g, 'shared');
    await addMember(g, cid, 'alice', 'joined');
    await addMember(g, cid, 'bob', 'joined');
    const first = await g.connect(await g.token('alice'));
    const second = await g.connect(await g.token('alice'));
    const bob = await g.connect(await g.token('bob'));

    const send = (s: Socket, i: number) => request(s, 'event:send', { conversation_id: cid, type: 'text', body: { text: `alice ${i}` } });
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => send(i % 2 === 0 ? first : second, i)));
    const ok = burst.filter((a) => a.ok === true);
    const limited = burst.filter((a) => a.ok === false);
    expect(ok.length).toBeGreaterThan(0);
    expect(ok.length).toBeLessThanOrEqual(8);
    expect(limited.length).toBeGreaterThan(0);
    for (const a of limited) expect(a.error.code).toBe('RateLimited');
    // Both of alice's connections drew on the one budget: each alone stayed under its own limit.
    expect(first.connected && second.connected).toBe(true);

    const bobAck = await request(bob, 'event:send', { conversation_id: cid, type: 'text', body: { text: 'not limited' } });
    expect(bobAck.ok).toBe(true);
  });
});

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < depth; i++) value = { child: value };
  return value;
}
