import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createConversation, EventRecorder, request, startGateway, TEST_SECRET, type TestGateway } from '../support/gateway.js';
import { rms, toneLevel } from '../support/tone.js';
import { TestPeer } from '../support/webrtcPeer.js';

/** The operator namespace `/operator` (README, "Socket API"): handshake, listings, watch, leg actions, hostile input. */

const OPERATOR = '/operator';
/** Tone level of `freq` in the peer's last half second of received audio. */
const heard = (peer: TestPeer, freq: number): number => toneLevel(peer.lastReceived(500), freq);
const AUDIBLE = 1500; // of the 8000 the peers send: well above codec and mixing loss
const SILENT = 300;

let gw: TestGateway | undefined;
const peers: TestPeer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await gw?.close();
  gw = undefined;
});

async function start(options: { media?: boolean; env?: Record<string, string> } = {}): Promise<TestGateway> {
  gw = await startGateway(options);
  return gw;
}

async function operator(g: TestGateway, name = 'olga'): Promise<{ socket: Socket; seen: EventRecorder }> {
  const socket = await g.connect(await g.token(name, 'operator'), { namespace: OPERATOR });
  return { socket, seen: new EventRecorder(socket) };
}

async function addMember(g: TestGateway, cid: string, user: string): Promise<string> {
  const res = await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: user }, state: 'joined' } });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function say(g: TestGateway, cid: string, from: string, text: string): Promise<any> {
  const res = await g.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from, body: { text } } });
  expect(res.status).toBe(201);
  return res.body;
}

async function listEvents(g: TestGateway, cid: string): Promise<any[]> {
  const res = await g.api('GET', `/v1/conversations/${cid}/events?page_size=100`);
  expect(res.status).toBe(200);
  return res.body._embedded.events as any[];
}

/** A round trip: its ack is written after every push the server made before reading it. */
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

async function until(test: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function operatorConnections(g: TestGateway): Promise<number> {
  const text = (await g.api('GET', '/metrics', { token: null })).body as string;
  const match = /legway_socket_connections\{namespace="\/operator"\} (\d+)/.exec(text);
  return match ? Number(match[1]) : 0;
}

describe('handshake', () => {
  it.each([
    { why: 'a user token', token: (g: TestGateway) => g.token('alice'), code: 'Forbidden', reason: /operator token.*user/ },
    { why: 'an application token', token: (g: TestGateway) => Promise.resolve(g.appToken), code: 'Forbidden', reason: /operator token.*application/ },
    { why: 'a missing token', token: () => Promise.resolve(''), code: 'Unauthorized', reason: /missing token/ },
    { why: 'a garbage token', token: () => Promise.resolve('not.a.jwt'), code: 'Unauthorized', reason: /malformed/ },
    {
      why: 'an operator token signed with another secret',
      token: (g: TestGateway) => g.token('olga', 'operator', { secret: 'another-secret-another-secret-another!' }),
      code: 'Unauthorized',
      reason: /signature/,
    },
  ])('refuses $why with connect_error naming the reason', async ({ token, code, reason }) => {
    const g = await start();
    const err = await connectError(g.connect(await token(g), { namespace: OPERATOR }));
    expect(err.message).toMatch(reason);
    expect(err.data?.code).toBe(code);
  });

  it('refuses a connection without any auth, and an expired operator token', async () => {
    const g = await start();
    const none = await connectError(g.connect('', { namespace: OPERATOR, auth: {} }));
    expect(none.message).toMatch(/missing token/);
    expect(none.data?.code).toBe('Unauthorized');

    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ role: 'operator', application_id: g.app.config.applicationId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('olga')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(new TextEncoder().encode(TEST_SECRET));
    const err = await connectError(g.connect(expired, { namespace: OPERATOR }));
    expect(err.message).toMatch(/expired/);
    expect(err.data?.code).toBe('Unauthorized');
  });

  it('accepts an operator token, counts the connection under /operator, and answers unknown requests', async () => {
    const g = await start();
    const { socket } = await operator(g);
    expect(socket.connected).toBe(true);
    expect(await operatorConnections(g)).toBe(1);
    // The client namespace's requests are not the operator's.
    expect(await request(socket, 'conversation:join', { conversation_id: 'x' })).toMatchObject({ ok: false, error: { code: 'UnknownRequest' } });
    socket.disconnect();
    await until(async () => (await operatorConnections(g)) === 0, 'the gauge is back to 0');
  });
});

describe('conversation:list', () => {
  it('pages through the active conversations with their members and live leg counts', async () => {
    const g = await start();
    const first = await createConversation(g, 'first');
    const second = await createConversation(g, 'second');
    const third = await createConversation(g, 'third');
    const gone = await createConversation(g, 'gone');
    expect((await g.api('DELETE', `/v1/conversations/${gone}`)).status).toBe(204);
    const alice = await addMember(g, first, 'alice');
    await g.api('POST', `/v1/conversations/${first}/members`, { body: { user: { name: 'bob' }, state: 'invited' } });
    const { socket } = await operator(g);

    // No payload at all, or null (socket.io's encoding of undefined), is the same as {}.
    const all = await socket.timeout(5000).emitWithAck('conversation:list');
    expect(all.ok).toBe(true);
    expect(await request(socket, 'conversation:list', null)).toEqual(all);
    expect(await request(socket, 'conversation:list', {})).toEqual(all);
    expect(all.conversations.map((c: any) => c.id)).toEqual([first, second, third]);
    expect(all.next_cursor).toBeUndefined();
    expect(all.conversations[0]).toMatchObject({ name: 'first', state: 'active', member_count: 2, leg_count: 0 });
    expect(all.conversations[0].members.map((m: any) => [m.user.name, m.state])).toEqual([
      ['alice', 'joined'],
      ['bob', 'invited'],
    ]);
    expect(all.conversations[0].members[0]).toMatchObject({ id: alice, media: { audio: false, muted: false, earmuffed: false } });
    expect(all.conversations[1]).toMatchObject({ name: 'second', member_count: 0, members: [] });

    const page1 = await request(socket, 'conversation:list', { page_size: 2 });
    expect(page1.conversations.map((c: any) => c.id)).toEqual([first, second]);
    expect(typeof page1.next_cursor).toBe('string');
    const page2 = await request(socket, 'conversation:list', { page_size: 2, cursor: page1.next_cursor });
    expect(page2.conversations.map((c: any) => c.id)).toEqual([third]);
    expect(page2.next_cursor).toBeUndefined();
  });
});

describe('watch', () => {
  it('without ids pushes every conversation’s events; with one id, only that one’s; unwatch stops them', async () => {
    const g = await start();
    const one = await createConversation(g, 'one');
    const two = await createConversation(g, 'two');
    const alice = await addMember(g, one, 'alice');
    const bob = await addMember(g, two, 'bob');
    const { socket, seen } = await operator(g);

    expect(await request(socket, 'watch', {})).toEqual({ ok: true, watching: 'all' });
    const inOne = await say(g, one, alice, 'in one');
    const inTwo = await say(g, two, bob, 'in two');
    // Pushed under their type names, the payload being the event object, as on the client namespace.
    expect(await seen.waitFor((e) => e.conversation_id === one && e.id === inOne.id)).toEqual({ name: 'text', ...inOne });
    expect(await seen.waitFor((e) => e.conversation_id === two && e.id === inTwo.id)).toEqual({ name: 'text', ...inTwo });
    // All means new conversations too.
    const three = await createConversation(g, 'three');
    await seen.waitFor((e) => e.name === 'conversation:created' && e.conversation_id === three);

    // By name or id; it replaces the selection.
    expect(await request(socket, 'watch', { conversation_ids: ['one'] })).toEqual({ ok: true, watching: [one] });
    await say(g, two, bob, 'not watched');
    const marker = await say(g, one, alice, 'marker');
    await seen.waitFor((e) => e.conversation_id === one && e.id === marker.id);
    expect(seen.events.some((e) => e.body?.text === 'not watched')).toBe(false);
    // Each event once, per conversation in id order.
    for (const cid of [one, two]) {
      const ids = seen.events.filter((e) => e.conversation_id === cid).map((e) => e.id as number);
      expect(ids).toEqual([...new Set(ids)].sort((x, y) => x - y));
    }

    // An unknown conversation is refused and the selection stays as it was.
    const refused = await request(socket, 'watch', { conversation_ids: [two, 'CON-00000000-0000-4000-8000-000000000000'] });
    expect(refused).toMatchObject({ ok: false, error: { code: 'ConversationNotFound' } });
    await say(g, two, bob, 'still not watched');
    const marker2 = await say(g, one, alice, 'marker 2');
    await seen.waitFor((e) => e.conversation_id === one && e.id === marker2.id);
    expect(seen.events.some((e) => e.body?.text === 'still not watched')).toBe(false);

    expect(await request(socket, 'unwatch', {})).toEqual({ ok: true });
    const count = seen.events.length;
    await say(g, one, alice, 'after unwatch');
    await flush(socket);
    expect(seen.events.length).toBe(count);
  });

  it('holds one event-log subscription while anyone watches, and drops it when the last watcher disconnects', async () => {
    const g = await start();
    const cid = await createConversation(g, 'watched');
    const committed = () => g.app.committed.listenerCount;
    const before = committed();

    const first = await operator(g, 'olga');
    const second = await operator(g, 'oscar');
    expect(committed()).toBe(before);
    await request(first.socket, 'watch', {});
    await request(second.socket, 'watch', { conversation_ids: [cid] });
    await request(second.socket, 'watch', {});
    expect(committed()).toBe(before + 1);

    first.socket.disconnect();
    await flush(second.socket);
    expect(committed()).toBe(before + 1);
    const member = await addMember(g, cid, 'alice');
    await second.seen.waitFor((e) => e.type === 'member:joined' && e.from === member);

    second.socket.disconnect();
    await until(() => committed() === before, 'the subscription is dropped');
  });
});

describe('a live WebRTC call', () => {
  interface Party {
    peer: TestPeer;
    seen: EventRecorder;
    memberId: string;
  }

  async function join(g: TestGateway, cid: string, name: string): Promise<Party> {
    const memberId = await addMember(g, cid, name);
    const socket = await g.connect(await g.token(name));
    const seen = new EventRecorder(socket);
    expect((await request(socket, 'conversation:join', { conversation_id: cid, since: 0 })).ok).toBe(true);
    const peer = new TestPeer(socket);
    peers.push(peer);
    expect(await peer.connect(cid)).toMatchObject({ ok: true, answer: { type: 'answer' } });
    return { peer, seen, memberId };
  }

  /** alice sends 440 Hz, bob 880 Hz, both connected and hearing each other. */
  async function call(env?: Record<string, string>): Promise<{ g: TestGateway; cid: string; a: Party; b: Party }> {
    const g = await start({ media: true, ...(env && { env }) });
    const cid = await createConversation(g, 'call');
    const a = await join(g, cid, 'alice');
    const b = await join(g, cid, 'bob');
    a.peer.tone(440);
    b.peer.tone(880);
    for (const p of [a, b]) await p.seen.waitFor((e) => e.type === 'rtc:status' && e.body.leg_id === p.peer.legId && e.body.status === 'connected');
    // Each hears the other (a single half-second window can dip under the threshold on a loaded machine).
    await b.peer.until((pcm) => toneLevel(pcm, 440) > AUDIBLE, 'bob hearing alice');
    await a.peer.until((pcm) => toneLevel(pcm, 880) > AUDIBLE, 'alice hearing bob');
    return { g, cid, a, b };
  }

  it('conversation:list and leg:list show the call, its members and its connected legs', async () => {
    const { g, cid, a, b } = await call();
    const quiet = await createConversation(g, 'quiet');
    const { socket } = await operator(g);

    const listed = await request(socket, 'conversation:list', {});
    const entry = listed.conversations.find((c: any) => c.id === cid);
    expect(entry).toMatchObject({ name: 'call', member_count: 2, leg_count: 2 });
    expect(entry.members.map((m: any) => [m.id, m.user.name, m.state, m.media.audio])).toEqual([
      [a.memberId, 'alice', 'joined', true],
      [b.memberId, 'bob', 'joined', true],
    ]);
    expect(listed.conversations.find((c: any) => c.id === quiet)).toMatchObject({ member_count: 0, leg_count: 0 });

    const legs = await request(socket, 'leg:list', {});
    expect(legs.ok).toBe(true);
    const byId = (list: any[]) => [...list].sort((x, y) => (x.id < y.id ? -1 : 1));
    const expected = [a, b].map((p) => ({
      id: p.peer.legId,
      conversation_id: cid,
      member_id: p.memberId,
      type: 'webrtc',
      status: 'connected',
      media: { muted: false, earmuffed: false, video_muted: false },
    }));
    expect(byId(legs.legs)).toMatchObject(byId(expected));
    expect(legs.legs).toHaveLength(2);
    expect(byId((await request(socket, 'leg:list', { conversation_id: cid })).legs)).toEqual(byId(legs.legs));
    expect((await request(socket, 'leg:list', { conversation_id: 'call' })).legs).toHaveLength(2);
    expect(await request(socket, 'leg:list', { conversation_id: quiet })).toEqual({ ok: true, legs: [] });
    expect(await request(socket, 'leg:list', { conversation_id: 'nowhere' })).toMatchObject({ ok: false, error: { code: 'ConversationNotFound' } });
  });

  it('mute, unmute and earmuff from the operator are heard, and each event names the operator as initiator', async () => {
    const { g, cid, a, b } = await call();
    const { socket, seen } = await operator(g);
    expect(await request(socket, 'watch', { conversation_ids: [cid] })).toMatchObject({ ok: true });

    // Mute A: B stops hearing 440 Hz.
    const muted = await request(socket, 'leg:action', { leg_id: a.peer.legId, action: 'mute' });
    expect(muted).toMatchObject({ ok: true, leg: { id: a.peer.legId, media: { muted: true } } });
    const muteOn = await seen.waitFor((e) => e.name === 'audio:mute:on' && e.body.leg_id === a.peer.legId);
    expect(muteOn).toMatchObject({ type: 'audio:mute:on', from: a.memberId, conversation_id: cid, body: { leg_id: a.peer.legId, initiator: 'olga' } });
    await seen.waitFor((e) => e.name === 'member:media' && e.body.leg_id === a.peer.legId && e.body.media.muted === true);
    await b.peer.receiveMore(1000);
    expect(heard(b.peer, 440)).toBeLessThan(SILENT);
    await a.peer.receiveMore(0);
    expect(heard(a.peer, 880)).toBeGreaterThan(AUDIBLE);

    // Unmute A: B hears it again.
    expect(await request(socket, 'leg:action', { leg_id: a.peer.legId, action: 'unmute' })).toMatchObject({ ok: true, leg: { media: { muted: false } } });
    expect(await seen.waitFor((e) => e.name === 'audio:mute:off' && e.body.leg_id === a.peer.legId)).toMatchObject({ body: { initiator: 'olga' } });
    await b.peer.receiveMore(1000);
    expect(heard(b.peer, 440)).toBeGreaterThan(AUDIBLE);

    // Earmuff B: B hears silence, A still hears B.
    expect(await request(socket, 'leg:action', { leg_id: b.peer.legId, action: 'earmuff' })).toMatchObject({ ok: true, leg: { media: { earmuffed: true } } });
    expect(await seen.waitFor((e) => e.name === 'audio:earmuff:on' && e.body.leg_id === b.peer.legId)).toMatchObject({
      from: b.memberId,
      body: { initiator: 'olga' },
    });
    await b.peer.receiveMore(1000);
    await a.peer.receiveMore(0);
    expect(heard(b.peer, 440)).toBeLessThan(SILENT);
    expect(rms(b.peer.lastReceived(500))).toBeLessThan(SILENT);
    expect(heard(a.peer, 880)).toBeGreaterThan(AUDIBLE);

    // The REST path with the same operator's token names the initiator the same way.
    const rest = await g.api('PUT', `/v1/legs/${b.peer.legId}`, { token: await g.token('olga', 'operator'), body: { action: 'unearmuff' } });
    expect(rest.status).toBe(200);
    expect(await seen.waitFor((e) => e.name === 'audio:earmuff:off' && e.body.leg_id === b.peer.legId)).toMatchObject({ body: { initiator: 'olga' } });

    const legs = await request(socket, 'leg:list', { conversation_id: cid });
    expect(legs.legs.map((l: any) => l.media)).toEqual([
      { muted: false, earmuffed: false, video_muted: false },
      { muted: false, earmuffed: false, video_muted: false },
    ]);
  });

  it('hangup ends that leg with rtc:terminate; the other stays connected', async () => {
    const { g, cid, a, b } = await call();
    const { socket, seen } = await operator(g);
    await request(socket, 'watch', {});

    expect(await request(socket, 'leg:action', { leg_id: a.peer.legId, action: 'hangup' })).toMatchObject({ ok: true, leg: { id: a.peer.legId } });
    const terminate = await seen.waitFor((e) => e.name === 'rtc:terminate' && e.body.leg_id === a.peer.legId);
    expect(terminate).toMatchObject({ from: a.memberId, conversation_id: cid });
    expect(typeof terminate.body.reason).toBe('string');
    await until(async () => (await request(socket, 'leg:list', {})).legs.length === 1, 'the ended leg leaves the list');

    const legs = await request(socket, 'leg:list', {});
    expect(legs.legs).toMatchObject([{ id: b.peer.legId, status: 'connected' }]);
    expect((await g.api('GET', `/v1/legs/${a.peer.legId}`)).body).toMatchObject({ status: 'ended' });
    expect(seen.events.some((e) => e.name === 'rtc:terminate' && e.body.leg_id === b.peer.legId)).toBe(false);
    // B's media still flows (nobody is left to hear, so it is silence).
    await b.peer.receiveMore(500);
    // An action on the ended leg is refused.
    expect(await request(socket, 'leg:action', { leg_id: a.peer.legId, action: 'mute' })).toMatchObject({ ok: false, error: { code: 'InvalidState' } });
  });

  it('bad payloads get BadRequest acks and change nothing; unknown legs LegNotFound; nothing to stop NotFound', async () => {
    const { g, cid, a, b } = await call({ LEGWAY_SOCKET_RATE_LIMIT: '100000', LEGWAY_TOKEN_RATE_LIMIT: '100000' });
    const { socket, seen } = await operator(g);
    await request(socket, 'watch', { conversation_ids: [cid] });
    const A = a.peer.legId;
    const huge = 'x'.repeat(60_000);
    const changes = (events: any[]) => events.filter((e) => !e.type.startsWith('audio:speaking') && e.type !== 'rtc:status');
    const legsBefore = (await request(socket, 'leg:list', {})).legs;
    const eventsBefore = changes(await listEvents(g, cid));

    const cases: { request: string | number; payload: unknown; code: string | string[] }[] = [
      // leg:action: not an object, missing or unknown fields, wrong types, oversized strings.
      ...['a string', 42, null, [A, 'mute'], {}].map((payload) => ({ request: 'leg:action', payload, code: 'BadRequest' })),
      { request: 'leg:action', payload: { action: 'mute' }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A }, code: 'BadRequest' },
      ...['explode', 'MUTE', '', 'constructor', '__proto__', 'toString'].map((action) => ({
        request: 'leg:action',
        payload: { leg_id: A, action },
        code: 'BadRequest',
      })),
      { request: 'leg:action', payload: { leg_id: A, action: 7 }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: 'mute', on: true }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: huge, action: 'mute' }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: 'not-a-leg', action: 'hangup' }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: `${A}' OR 1=1 --`, action: 'hangup' }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: huge }, code: 'BadRequest' },
      // The later actions' parameters are checked now.
      { request: 'leg:action', payload: { leg_id: A, action: 'transfer' }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: 'transfer', conversation_id: huge }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: 'play' }, code: 'BadRequest' },
      ...['/etc/passwd', '../secret.wav', 'a/../../b.wav', 'file:///etc/passwd', 'javascript:alert(1)', `https://${huge}`].map((stream_url) => ({
        request: 'leg:action',
        payload: { leg_id: A, action: 'play', stream_url },
        code: 'BadRequest',
      })),
      { request: 'leg:action', payload: { leg_id: A, action: 'play', stream_url: 'https://example.com/a.wav', loop: -1 }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: 'play', stream_url: 'https://example.com/a.wav', level: 2 }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: 'say' }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: 'say', text: huge }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: 'say', text: 'hi', language: 'english please' }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: 'dtmf', digits: 'xyz' }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: 'dtmf', digits: '1'.repeat(65) }, code: 'BadRequest' },
      { request: 'leg:action', payload: { leg_id: A, action: 'record', format: 'mp3' }, code: 'BadRequest' },
      // The other requests.
      { request: 'conversation:list', payload: 'all', code: 'BadRequest' },
      { request: 'conversation:list', payload: { page_size: 0 }, code: 'BadRequest' },
      { request: 'conversation:list', payload: { page_size: 1000 }, code: 'BadRequest' },
      { request: 'conversation:list', payload: { cursor: 'garbage' }, code: 'BadRequest' },
      { request: 'conversation:list', payload: { cursor: huge }, code: 'BadRequest' },
      { request: 'conversation:list', payload: { everything: true }, code: 'BadRequest' },
      { request: 'leg:list', payload: { conversation_id: huge }, code: 'BadRequest' },
      { request: 'leg:list', payload: { conversation_id: 5 }, code: 'BadRequest' },
      { request: 'leg:list', payload: { conversation_id: cid, status: 'ended' }, code: 'BadRequest' },
      { request: 'watch', payload: { conversation_ids: [] }, code: 'BadRequest' },
      { request: 'watch', payload: { conversation_ids: cid }, code: 'BadRequest' },
      { request: 'watch', payload: { conversation_ids: [huge] }, code: 'BadRequest' },
      { request: 'watch', payload: { conversation_ids: Array.from({ length: 501 }, () => cid) }, code: 'BadRequest' },
      { request: 'unwatch', payload: { conversation_ids: [cid] }, code: 'BadRequest' },
      // Well-formed, but nothing there.
      { request: 'leg:action', payload: { leg_id: randomUUID(), action: 'mute' }, code: 'LegNotFound' },
      { request: 'leg:action', payload: { leg_id: randomUUID(), action: 'hangup' }, code: 'LegNotFound' },
      { request: 'leg:action', payload: { leg_id: randomUUID(), action: 'play', stream_url: 'https://example.com/a.wav' }, code: 'LegNotFound' },
      { request: 'leg:action', payload: { leg_id: A, action: 'transfer', conversation_id: 'nowhere' }, code: 'ConversationNotFound' },
      // Valid, but nothing to stop.
      { request: 'leg:action', payload: { leg_id: A, action: 'play:stop' }, code: 'NotFound' },
      { request: 'leg:action', payload: { leg_id: A, action: 'say:stop' }, code: 'NotFound' },
      { request: 'leg:action', payload: { leg_id: A, action: 'record:stop' }, code: 'NotFound' },
      // A file that is not in the media folder.
      { request: 'leg:action', payload: { leg_id: A, action: 'play', stream_url: ['prompts/welcome.wav'] }, code: ['NotFound', 'Unavailable'] },
      // Unknown requests, including a numeric event name (socket.io's parser accepts those).
      ...['leg:mute', 'conversation:delete', 'constructor', '__proto__', 42].map((name) => ({ request: name, payload: { leg_id: A }, code: 'UnknownRequest' })),
    ];

    const failures: string[] = [];
    for (const c of cases) {
      const ack = await socket
        .timeout(5000)
        .emitWithAck(c.request as string, c.payload)
        .catch((err: unknown) => ({ noAck: String(err) }));
      const shown = `${c.request} ${JSON.stringify(c.payload).slice(0, 80)}`;
      if (ack?.ok !== false || ![c.code].flat().includes(ack.error?.code)) failures.push(`${shown} → ${JSON.stringify(ack).slice(0, 200)}`);
      else if (typeof ack.error.message !== 'string' || ack.error.message.length === 0 || ack.error.message.length > 1000) {
        failures.push(`${shown} → unbounded or empty message`);
      }
      if (!socket.connected) failures.push(`${shown} → socket disconnected`);
    }
    expect(failures).toEqual([]);

    // Nothing changed: the legs, the log (beyond speaking and ICE reports) and what B hears.
    expect((await request(socket, 'leg:list', {})).legs).toEqual(legsBefore);
    expect(changes(await listEvents(g, cid))).toEqual(eventsBefore);
    await flush(socket);
    expect(seen.events.filter((e) => /^(audio:(mute|earmuff)|rtc:(terminate|hangup)|member:)/.test(e.name))).toEqual([]);
    await b.peer.receiveMore(500);
    expect(heard(b.peer, 440)).toBeGreaterThan(AUDIBLE);
    expect((await g.api('GET', '/healthz', { token: null })).status).toBe(200);
  });
});
