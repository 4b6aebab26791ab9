import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeMediaEngine, fakeOfferSdp } from '../support/fakeEngine.js';
import { createConversation, request, startGateway, type GatewayOptions, type TestGateway } from '../support/gateway.js';

/**
 * What one client may grow, each refused past its configured limit with a stable code, and the
 * one answer a stranger gets for a conversation it may not see, whether it exists or not.
 * The buffer and replay limits are in socket-backpressure.test.ts.
 */

let gw: TestGateway | undefined;

afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function start(env: Record<string, string>, options: GatewayOptions = {}): Promise<TestGateway> {
  gw = await startGateway({ ...options, env });
  return gw;
}

/** A joined member `name` whose socket has joined the conversation. */
async function joined(g: TestGateway, cid: string, name: string): Promise<Socket> {
  expect((await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } })).status).toBe(201);
  const socket = await g.connect(await g.token(name));
  expect(await request(socket, 'conversation:join', { conversation_id: cid })).toMatchObject({ ok: true });
  return socket;
}

async function events(g: TestGateway, cid: string): Promise<any[]> {
  return (await g.api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events;
}

/** The error of a refused handshake. */
async function refusedConnection(connecting: Promise<Socket>): Promise<Error & { data?: { code?: string } }> {
  return connecting.then(
    () => {
      throw new Error('the connection was accepted');
    },
    (err: unknown) => err as Error & { data?: { code?: string } },
  );
}

describe('WebRTC legs per member and per conversation', () => {
  it('refuses rtc:new past either limit with LimitReached, and creates no leg, endpoint or event', async () => {
    const engine = new FakeMediaEngine();
    const g = await start({ LEGWAY_MAX_LEGS_PER_MEMBER: '2', LEGWAY_MAX_LEGS_PER_CONVERSATION: '3' }, { engine });
    const cid = await createConversation(g, 'legs');
    const alice = await joined(g, cid, 'alice');
    const bob = await joined(g, cid, 'bob');
    const carol = await joined(g, cid, 'carol');
    const offer = (s: Socket): Promise<any> => request(s, 'rtc:new', { conversation_id: cid, offer: { type: 'offer', sdp: fakeOfferSdp() } });

    const first = await offer(alice);
    expect(first).toMatchObject({ ok: true });
    expect(await offer(alice)).toMatchObject({ ok: true });
    const logBefore = await events(g, cid);

    // Alice holds her two: a third is hers to refuse, however often she asks.
    for (let i = 0; i < 3; i++) {
      expect(await offer(alice)).toEqual({
        ok: false,
        error: { code: 'LimitReached', message: 'you hold the limit of 2 WebRTC legs in this conversation; hang one up first' },
      });
    }
    // Bob takes the conversation's third; carol finds it full.
    expect(await offer(bob)).toMatchObject({ ok: true });
    expect(await offer(carol)).toEqual({ ok: false, error: { code: 'LimitReached', message: 'the conversation holds its limit of 3 WebRTC legs' } });

    expect(engine.requests).toHaveLength(3);
    expect((await g.api('GET', `/v1/conversations/${cid}/legs`)).body._embedded.legs).toHaveLength(3);
    const logAfter = await events(g, cid);
    // Only bob's leg logged anything since: none of the refused offers did.
    const bobMember = (await g.api('GET', `/v1/conversations/${cid}/members`)).body._embedded.members.find((m: any) => m.user.name === 'bob');
    expect(logAfter.slice(logBefore.length).every((e) => e.from === bobMember.id)).toBe(true);

    // A leg that ends gives its place back.
    expect(await request(alice, 'rtc:hangup', { leg_id: first.leg_id })).toMatchObject({ ok: true });
    await vi.waitFor(async () => expect(await offer(carol)).toMatchObject({ ok: true }));
  });
});

describe('members per conversation', () => {
  it('refuses a new member past the limit, over REST and on the socket, and changes nothing', async () => {
    const g = await start({ LEGWAY_MAX_MEMBERS_PER_CONVERSATION: '2' });
    const cid = await createConversation(g, 'small-room');
    expect((await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } })).status).toBe(201);
    const bob = await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'bob' }, state: 'invited' } });
    expect(bob.status).toBe(201);
    const logBefore = await events(g, cid);

    const invite = await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'carol' }, state: 'invited' } });
    expect({ status: invite.status, body: invite.body }).toEqual({
      status: 429,
      body: { type: 'urn:legway:error:LimitReached', title: 'Limit reached', code: 'LimitReached', detail: 'the conversation has its limit of 2 members' },
    });
    const dave = await g.connect(await g.token('dave', 'user', { join: ['*'] }));
    expect(await request(dave, 'conversation:join', { conversation_id: cid })).toEqual({
      ok: false,
      error: { code: 'LimitReached', message: 'the conversation has its limit of 2 members' },
    });
    expect((await g.api('GET', `/v1/conversations/${cid}/members`)).body._embedded.members.map((m: any) => m.user.name)).toEqual(['alice', 'bob']);
    expect(await events(g, cid)).toEqual(logBefore);

    // The invited member is counted already: joining does not need a new place.
    const bobSocket = await g.connect(await g.token('bob'));
    expect(await request(bobSocket, 'conversation:join', { conversation_id: cid })).toMatchObject({ ok: true, member_id: bob.body.id });
    // A member who leaves frees a place.
    expect((await g.api('PATCH', `/v1/conversations/${cid}/members/${bob.body.id as string}`, { body: { state: 'left' } })).status).toBe(200);
    expect(await request(dave, 'conversation:join', { conversation_id: cid })).toMatchObject({ ok: true });
  });
});

describe('socket connections per token subject and per address', () => {
  it('refuses the handshake past either limit with a connect_error naming the reason; operators count too', async () => {
    const g = await start({ LEGWAY_MAX_SOCKETS_PER_SUBJECT: '2', LEGWAY_MAX_SOCKETS_PER_IP: '4' });
    const alice = await g.token('alice');
    const olga = await g.token('olga', 'operator');
    const aliceFirst = await g.connect(alice);
    await g.connect(alice);
    const third = await refusedConnection(g.connect(alice));
    expect(third.message).toBe('too many connections for this user (at most 2 at once); close one first');
    expect(third.data?.code).toBe('LimitReached');

    await g.connect(olga, { namespace: '/operator' });
    await g.connect(olga, { namespace: '/operator' });
    expect((await refusedConnection(g.connect(olga, { namespace: '/operator' }))).data?.code).toBe('LimitReached');

    // Four connections from 127.0.0.1: a fifth user is turned away by address.
    const bob = await g.token('bob');
    const byAddress = await refusedConnection(g.connect(bob));
    expect(byAddress.message).toBe('too many connections from this address (at most 4 at once)');
    expect(byAddress.data?.code).toBe('LimitReached');

    // A connection that closes gives its place back.
    aliceFirst.disconnect();
    const bobSocket = await vi.waitFor(() => g.connect(bob));
    expect(await request(bobSocket, 'conversation:join', { conversation_id: 'no-such-room' })).toMatchObject({ ok: false });
  });
});

describe('knocks per user per minute', () => {
  it('refuses a new knock past the limit, over all conversations, with RateLimited; a repeated knock is not counted, a probe is', async () => {
    const g = await start({ LEGWAY_KNOCK_RATE_LIMIT: '3' });
    const doors = [];
    for (let i = 0; i < 4; i++) doors.push(await createConversation(g, `door-${i}`));
    const dave = await g.connect(await g.token('dave'));
    const knocks = [];
    for (const door of doors.slice(0, 2)) knocks.push(await request(dave, 'conversation:knock', { conversation_id: door }));
    expect(knocks.every((k) => k.ok === true)).toBe(true);
    // Knocking again at a door where it waits returns the same knock, and costs nothing.
    expect(await request(dave, 'conversation:knock', { conversation_id: doors[0] })).toMatchObject({ ok: true, knocking_id: knocks[0].knocking_id });
    // Knocking at a door that does not exist costs as much as a knock: names cannot be probed for free.
    expect(await request(dave, 'conversation:knock', { conversation_id: 'no-such-door' })).toMatchObject({
      ok: false,
      error: { code: 'ConversationNotFound' },
    });

    const refused = await request(dave, 'conversation:knock', { conversation_id: doors[2] });
    expect(refused).toMatchObject({ ok: false, error: { code: 'RateLimited', message: expect.stringMatching(/^at most 3 knocks a minute; retry in \d+ s$/) } });
    expect((await events(g, doors[2]!)).filter((e) => e.type === 'app:knocking')).toEqual([]);
    // Another user has knocks of its own.
    const erin = await g.connect(await g.token('erin'));
    expect(await request(erin, 'conversation:knock', { conversation_id: doors[3] })).toMatchObject({ ok: true });
  });
});

describe('one answer for "not found or not allowed"', () => {
  it('a stranger gets byte-identical errors for an existing conversation and a made-up one; the application a precise one', async () => {
    const g = await start({});
    const cid = await createConversation(g, 'secret-room');
    await joined(g, cid, 'alice');
    const madeUp = `${cid.slice(0, -4)}${cid.endsWith('0000') ? '1111' : '0000'}`;
    const mallory = await g.connect(await g.token('mallory', 'user', { join: ['elsewhere'] }));
    const before = await events(g, cid);

    const socketAnswers = async (id: string): Promise<string[]> => [
      JSON.stringify(await request(mallory, 'conversation:join', { conversation_id: id })),
      JSON.stringify(await request(mallory, 'conversation:join', { conversation_id: id, since: 0 })),
      JSON.stringify(await request(mallory, 'conversation:leave', { conversation_id: id })),
      JSON.stringify(await request(mallory, 'event:send', { conversation_id: id, type: 'text', body: { text: 'hello?' } })),
    ];
    const existing = [...(await socketAnswers(cid)), ...(await socketAnswers('secret-room'))];
    const missing = [...(await socketAnswers(madeUp)), ...(await socketAnswers('no-such-room'))];
    expect(existing).toEqual(missing);
    expect(JSON.parse(existing[0]!)).toEqual({ ok: false, error: { code: 'ConversationNotFound', message: 'conversation not found or not allowed' } });

    const token = await g.token('mallory');
    const restAnswers = async (id: string): Promise<string[]> => {
      const answers = [
        await g.api('GET', `/v1/conversations/${id}`, { token }),
        await g.api('GET', `/v1/conversations/${id}/events`, { token }),
        await g.api('GET', `/v1/conversations/${id}/members`, { token }),
        await g.api('GET', `/v1/conversations/${id}/legs`, { token }),
        await g.api('POST', `/v1/conversations/${id}/events`, { token, body: { type: 'text', body: { text: 'hello?' } } }),
      ];
      return answers.map((res) => `${res.status} ${JSON.stringify(res.body)}`);
    };
    const restExisting = await restAnswers(cid);
    expect(restExisting).toEqual(await restAnswers(madeUp));
    expect(restExisting[0]).toBe(
      '404 {"type":"urn:legway:error:ConversationNotFound","title":"Conversation not found","code":"ConversationNotFound","detail":"conversation not found or not allowed"}',
    );
    expect(await events(g, cid)).toEqual(before);

    // The application, which may see everything, is told exactly what is missing.
    expect((await g.api('GET', `/v1/conversations/${madeUp}`)).body.detail).toBe(`conversation ${madeUp} not found`);
    expect((await g.api('GET', `/v1/conversations/${cid}`)).status).toBe(200);
  });
});
