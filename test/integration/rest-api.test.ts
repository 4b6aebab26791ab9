import { SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, TEST_SECRET, type ApiResponse, type TestGateway } from '../support/gateway.js';

/** Asserts a JSON problem response with the given status and stable code. */
function expectProblem(res: ApiResponse, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
}

describe('REST API', () => {
  let gw: TestGateway;

  beforeEach(async () => {
    gw = await startGateway();
  });
  afterEach(async () => {
    await gw.close();
  });

  async function createConversation(body: Record<string, unknown> = {}): Promise<any> {
    const res = await gw.api('POST', '/v1/conversations', { body });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function addMember(cid: string, name: string, state: 'invited' | 'joined' = 'joined'): Promise<any> {
    const res = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state } });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function postEvent(cid: string, body: Record<string, unknown>, token?: string): Promise<ApiResponse> {
    return gw.api('POST', `/v1/conversations/${cid}/events`, { body, ...(token !== undefined && { token }) });
  }

  /** The whole event log as the application sees it. */
  async function eventLog(cid: string, query = ''): Promise<any[]> {
    const res = await gw.api('GET', `/v1/conversations/${cid}/events?page_size=100${query}`);
    expect(res.status).toBe(200);
    return res.body._embedded.events;
  }

  /** Follows `_links.next` from `first` to the end; returns every page's items. */
  async function allPages(first: string, name: string, token?: string): Promise<any[][]> {
    const pages: any[][] = [];
    let href: string | undefined = first;
    while (href !== undefined) {
      const res = await gw.api('GET', href, token === undefined ? {} : { token });
      expect(res.status).toBe(200);
      pages.push(res.body._embedded[name]);
      href = res.body._links.next?.href;
      expect(pages.length).toBeLessThan(50);
    }
    return pages;
  }

  describe('conversations', () => {
    it('creates, reads, renames and deletes a conversation, logging created/updated/deleted', async () => {
      // Arrange + Act: create.
      const created = await gw.api('POST', '/v1/conversations', {
        body: { name: 'weekly', display_name: 'Weekly sync', properties: { ttl: 3600, custom_data: { team: 'core', n: 3, tags: ['a', 'b'] } } },
      });

      // Assert: 201 with the documented shape and a Location.
      expect(created.status).toBe(201);
      const cid: string = created.body.id;
      expect(cid).toMatch(/^CON-[0-9a-f-]{36}$/);
      expect(created.headers.get('location')).toBe(`/v1/conversations/${cid}`);
      expect(created.body).toMatchObject({
        name: 'weekly',
        display_name: 'Weekly sync',
        state: 'active',
        properties: { ttl: 3600, custom_data: { team: 'core', n: 3, tags: ['a', 'b'] } },
      });
      expect(new Date(created.body.timestamp.created).toISOString()).toBe(created.body.timestamp.created);

      // Read back: properties round-trip exactly.
      const got = await gw.api('GET', `/v1/conversations/${cid}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(created.body);

      // Rename and change display name.
      const patched = await gw.api('PATCH', `/v1/conversations/${cid}`, { body: { name: 'weekly-renamed', display_name: 'Weekly (renamed)' } });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ id: cid, name: 'weekly-renamed', display_name: 'Weekly (renamed)', properties: { ttl: 3600 } });
      expect(patched.body.timestamp.updated).toEqual(expect.any(String));
      const afterPatch = await gw.api('GET', `/v1/conversations/${cid}`);
      expect(afterPatch.body).toMatchObject({ name: 'weekly-renamed', display_name: 'Weekly (renamed)' });

      // Properties can be replaced too.
      const props = await gw.api('PATCH', `/v1/conversations/${cid}`, { body: { properties: { ttl: 60, custom_data: { v: 2 } } } });
      expect(props.status).toBe(200);
      expect((await gw.api('GET', `/v1/conversations/${cid}`)).body.properties).toEqual({ ttl: 60, custom_data: { v: 2 } });

      // The log tells the same story.
      const log = await eventLog(cid);
      expect(log.map((e) => [e.id, e.type])).toEqual([
        [1, 'conversation:created'],
        [2, 'conversation:updated'],
        [3, 'conversation:updated'],
      ]);
      expect(log[0].body).toMatchObject({ id: cid, name: 'weekly', properties: { ttl: 3600, custom_data: { team: 'core' } } });
      expect(log[1].body).toMatchObject({ id: cid, name: 'weekly-renamed', display_name: 'Weekly (renamed)' });
      expect(log[2].body.properties).toEqual({ ttl: 60, custom_data: { v: 2 } });

      // Delete: 204, then gone for reads, writes and its event log.
      const deleted = await gw.api('DELETE', `/v1/conversations/${cid}`);
      expect(deleted.status).toBe(204);
      expect(deleted.body).toBeUndefined();
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}`), 404, 'ConversationNotFound');
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events`), 404, 'ConversationNotFound');
      expectProblem(await gw.api('PATCH', `/v1/conversations/${cid}`, { body: { display_name: 'x' } }), 404, 'ConversationNotFound');
      expectProblem(await gw.api('DELETE', `/v1/conversations/${cid}`), 404, 'ConversationNotFound');
      const listed = await gw.api('GET', '/v1/conversations?page_size=100');
      expect(listed.body._embedded.conversations.map((c: any) => c.id)).not.toContain(cid);
    });

    it('defaults the name to the id and needs no body at all', async () => {
      const res = await gw.api('POST', '/v1/conversations', { body: {} });
      expect(res.status).toBe(201);
      expect(res.body.name).toBe(res.body.id);
      expect(res.body.properties).toEqual({});
    });

    it('refuses a second conversation with a taken name (409) but frees the name when the first is deleted', async () => {
      // Arrange
      const first = await createConversation({ name: 'lobby' });
      const other = await createConversation({ name: 'other' });

      // Act + Assert: create and rename onto the taken name both conflict.
      expectProblem(await gw.api('POST', '/v1/conversations', { body: { name: 'lobby' } }), 409, 'ConversationNameTaken');
      expectProblem(await gw.api('PATCH', `/v1/conversations/${other.id}`, { body: { name: 'lobby' } }), 409, 'ConversationNameTaken');
      // The failed rename changed nothing and logged nothing.
      expect((await gw.api('GET', `/v1/conversations/${other.id}`)).body.name).toBe('other');
      expect((await eventLog(other.id)).map((e) => e.type)).toEqual(['conversation:created']);

      // Deleting the first frees its name.
      expect((await gw.api('DELETE', `/v1/conversations/${first.id}`)).status).toBe(204);
      const again = await gw.api('POST', '/v1/conversations', { body: { name: 'lobby' } });
      expect(again.status).toBe(201);
      expect(again.body.id).not.toBe(first.id);
      expect((await gw.api('GET', `/v1/conversations/${again.body.id}`)).body.name).toBe('lobby');
    });

    it('deleting a conversation makes every current member leave, then logs conversation:deleted', async () => {
      // Arrange: alice joined (watching over her socket), bob invited, carol already left.
      const { id: cid } = await createConversation({ name: 'doomed' });
      const alice = await addMember(cid, 'alice', 'joined');
      const bob = await addMember(cid, 'bob', 'invited');
      const carol = await addMember(cid, 'carol', 'joined');
      expect((await gw.api('PATCH', `/v1/conversations/${cid}/members/${carol.id}`, { body: { state: 'left' } })).status).toBe(200);
      const socket = await gw.connect(await gw.token('alice'));
      const seen = new EventRecorder(socket);
      expect(await request(socket, 'conversation:join', { conversation_id: cid })).toMatchObject({ ok: true, member_id: alice.id });
      const lastBefore = (await eventLog(cid)).at(-1).id as number;

      // Act
      const res = await gw.api('DELETE', `/v1/conversations/${cid}`);

      // Assert: alice's client is told she left because the conversation was deleted (her last event).
      expect(res.status).toBe(204);
      const own = await seen.waitFor((e) => e.type === 'member:left');
      expect(own).toMatchObject({ id: lastBefore + 1, from: alice.id, body: { member_id: alice.id, state: 'left', reason: 'conversation deleted' } });

      // The log is gone from the API; in the store it ends with both current members leaving, then conversation:deleted.
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events`), 404, 'ConversationNotFound');
      const stored = gw.app.store.events.list({ conversationId: cid, order: 'asc', size: 100, after: lastBefore }).items;
      expect(stored.map((e) => [e.id, e.type, e.from])).toEqual([
        [lastBefore + 1, 'member:left', alice.id],
        [lastBefore + 2, 'member:left', bob.id],
        [lastBefore + 3, 'conversation:deleted', 'system'],
      ]);
      expect(stored[2]!.body).toMatchObject({ id: cid, name: 'doomed', timestamp: { destroyed: expect.any(String) } });
      // carol had already left: no second member:left for her.
      expect(stored.some((e) => e.from === carol.id)).toBe(false);
    });

    it('pages through conversations with cursors, asc and desc, each exactly once', async () => {
      // Arrange: 7 conversations → pages of 3, 3, 1.
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await createConversation({ name: `room-${i}` })).id);

      // Act
      const asc = await allPages('/v1/conversations?page_size=3', 'conversations');
      const desc = await allPages('/v1/conversations?page_size=3&order=desc', 'conversations');

      // Assert
      expect(asc.map((p) => p.length)).toEqual([3, 3, 1]);
      expect(asc.flat().map((c) => c.id)).toEqual(ids);
      expect(desc.map((p) => p.length)).toEqual([3, 3, 1]);
      expect(desc.flat().map((c) => c.id)).toEqual([...ids].reverse());

      // The HAL envelope.
      const first = await gw.api('GET', '/v1/conversations?page_size=3');
      expect(first.body.page_size).toBe(3);
      expect(first.body._links.self.href).toBe('/v1/conversations?page_size=3');
      expect(first.body._links.next.href).toMatch(/^\/v1\/conversations\?page_size=3&cursor=/);
      const last = await gw.api('GET', '/v1/conversations?page_size=7');
      expect(last.body._embedded.conversations).toHaveLength(7);
      expect(last.body._links.next).toBeUndefined();

      // Default page size is 10.
      const dflt = await gw.api('GET', '/v1/conversations');
      expect(dflt.body.page_size).toBe(10);
      expect(dflt.body._embedded.conversations).toHaveLength(7);

      // A cursor from an ascending listing is refused by a descending one.
      const cursor = new URL(first.body._links.next.href, gw.url).searchParams.get('cursor')!;
      expectProblem(await gw.api('GET', `/v1/conversations?order=desc&cursor=${cursor}`), 400, 'BadRequest');
    });

    it('skips deleted conversations while paging', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push((await createConversation({ name: `p-${i}` })).id);
      expect((await gw.api('DELETE', `/v1/conversations/${ids[1]!}`)).status).toBe(204);
      expect((await gw.api('DELETE', `/v1/conversations/${ids[4]!}`)).status).toBe(204);

      const pages = await allPages('/v1/conversations?page_size=2', 'conversations');

      expect(pages.flat().map((c) => c.id)).toEqual([ids[0], ids[2], ids[3], ids[5]]);
    });
  });

  describe('members', () => {
    it('invite → joined → left, each logged with from = the member id', async () => {
      // Arrange
      const { id: cid } = await createConversation({ name: 'members' });

      // Act
      const invited = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'invited' } });
      const mid: string = invited.body.id;
      const joined = await gw.api('PATCH', `/v1/conversations/${cid}/members/${mid}`, { body: { state: 'joined' } });
      const left = await gw.api('PATCH', `/v1/conversations/${cid}/members/${mid}`, { body: { state: 'left' } });

      // Assert: responses.
      expect(invited.status).toBe(201);
      expect(mid).toMatch(/^MEM-[0-9a-f-]{36}$/);
      expect(invited.headers.get('location')).toBe(`/v1/conversations/${cid}/members/${mid}`);
      expect(invited.body).toMatchObject({
        conversation_id: cid,
        state: 'invited',
        user: { name: 'alice', id: expect.stringMatching(/^USR-/) },
        channel: { type: 'app' },
        media: { audio: false, video: false, muted: false, earmuffed: false },
      });
      expect(joined.status).toBe(200);
      expect(joined.body).toMatchObject({ id: mid, state: 'joined', timestamp: { invited: expect.any(String), joined: expect.any(String) } });
      expect(left.status).toBe(200);
      expect(left.body).toMatchObject({ id: mid, state: 'left', timestamp: { left: expect.any(String) } });
      expect((await gw.api('GET', `/v1/conversations/${cid}/members/${mid}`)).body.state).toBe('left');

      // Assert: the log.
      const log = await eventLog(cid);
      expect(log.map((e) => [e.type, e.from])).toEqual([
        ['conversation:created', 'system'],
        ['member:invited', mid],
        ['member:joined', mid],
        ['member:left', mid],
      ]);
      expect(log.slice(1).map((e) => e.body.state)).toEqual(['invited', 'joined', 'left']);
      for (const e of log.slice(1)) expect(e.body).toMatchObject({ member_id: mid, user: { name: 'alice' } });

      // Left is final: no going back to joined.
      expectProblem(await gw.api('PATCH', `/v1/conversations/${cid}/members/${mid}`, { body: { state: 'joined' } }), 409, 'InvalidState');
      expect(await eventLog(cid)).toHaveLength(4);
    });

    it('refuses a duplicate current member (409) but lets a user who left come back as a new member', async () => {
      const { id: cid } = await createConversation({ name: 'dupes' });
      const first = await addMember(cid, 'alice', 'invited');

      const dup = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
      expectProblem(dup, 409, 'MemberExists');
      expect(dup.body.detail).toContain(first.id);
      expect((await eventLog(cid)).map((e) => e.type)).toEqual(['conversation:created', 'member:invited']);

      await gw.api('PATCH', `/v1/conversations/${cid}/members/${first.id}`, { body: { state: 'left' } });
      const back = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
      expect(back.status).toBe(201);
      expect(back.body.id).not.toBe(first.id);
      expect(back.body.user.id).toBe(first.user.id);
    });

    it('adds a member by user id, and 404s an unknown user id', async () => {
      const a = await createConversation({ name: 'a' });
      const b = await createConversation({ name: 'b' });
      const alice = await addMember(a.id, 'alice');

      const byId = await gw.api('POST', `/v1/conversations/${b.id}/members`, { body: { user: { id: alice.user.id }, state: 'joined' } });
      expect(byId.status).toBe(201);
      expect(byId.body.user).toEqual(alice.user);
      expect(byId.body.conversation_id).toBe(b.id);

      const unknown = await gw.api('POST', `/v1/conversations/${b.id}/members`, {
        body: { user: { id: 'USR-00000000-0000-4000-8000-000000000000' }, state: 'joined' },
      });
      expectProblem(unknown, 404, 'UserNotFound');
    });

    it('lists members and 404s a member id of another conversation', async () => {
      const a = await createConversation({ name: 'a' });
      const b = await createConversation({ name: 'b' });
      const alice = await addMember(a.id, 'alice');
      const bob = await addMember(a.id, 'bob', 'invited');
      await addMember(b.id, 'carol');

      const list = await gw.api('GET', `/v1/conversations/${a.id}/members`);
      expect(list.status).toBe(200);
      expect(list.body._embedded.members.map((m: any) => [m.id, m.state])).toEqual([
        [alice.id, 'joined'],
        [bob.id, 'invited'],
      ]);
      expect((await gw.api('GET', `/v1/conversations/${a.id}/members/${bob.id}`)).body).toEqual(bob);

      expectProblem(await gw.api('GET', `/v1/conversations/${b.id}/members/${alice.id}`), 404, 'MemberNotFound');
      expectProblem(await gw.api('PATCH', `/v1/conversations/${b.id}/members/${alice.id}`, { body: { state: 'left' } }), 404, 'MemberNotFound');
      expectProblem(await gw.api('GET', `/v1/conversations/${a.id}/members/MEM-00000000-0000-4000-8000-000000000000`), 404, 'MemberNotFound');
      // Nothing moved.
      expect((await gw.api('GET', `/v1/conversations/${a.id}/members/${alice.id}`)).body.state).toBe('joined');
      expect((await eventLog(b.id)).map((e) => e.type)).toEqual(['conversation:created', 'member:joined']);
    });
  });

  describe('events', () => {
    /**
     * 1 conversation:created, 2 member:joined (alice), 3 member:joined (bob), 4 text (alice),
     * 5 text (bob), 6 text:seen (bob → 4), 7 custom:my-thing (alice), 8 member:invited (carol).
     */
    async function seeded(): Promise<{ cid: string; alice: any; bob: any; carol: any }> {
      const { id: cid } = await createConversation({ name: 'chat' });
      const alice = await addMember(cid, 'alice');
      const bob = await addMember(cid, 'bob');
      expect((await postEvent(cid, { type: 'text', from: alice.id, body: { text: 'one' } })).status).toBe(201);
      expect((await postEvent(cid, { type: 'text', from: bob.id, body: { text: 'two' } })).status).toBe(201);
      expect((await postEvent(cid, { type: 'text:seen', from: bob.id, body: { event_id: 4 } })).status).toBe(201);
      expect((await postEvent(cid, { type: 'custom:my-thing', from: alice.id, body: { any: { nested: [1, 'two', null] } } })).status).toBe(201);
      const carol = await addMember(cid, 'carol', 'invited');
      return { cid, alice, bob, carol };
    }

    const idsOf = (events: any[]): number[] => events.map((e) => e.id as number);

    it('filters by exact type, prefix*, several types, id range and order', async () => {
      const { cid } = await seeded();

      expect(idsOf(await eventLog(cid))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(idsOf(await eventLog(cid, '&event_type=text'))).toEqual([4, 5]);
      expect(idsOf(await eventLog(cid, '&event_type=member:*'))).toEqual([2, 3, 8]);
      expect(idsOf(await eventLog(cid, '&event_type=text*'))).toEqual([4, 5, 6]);
      expect(idsOf(await eventLog(cid, '&event_type=text,custom:my-thing'))).toEqual([4, 5, 7]);
      expect(idsOf(await eventLog(cid, `&event_type=${encodeURIComponent('text:seen, member:joined')}`))).toEqual([2, 3, 6]);
      expect(idsOf(await eventLog(cid, '&event_type=custom:*,conversation:*'))).toEqual([1, 7]);
      expect(idsOf(await eventLog(cid, '&event_type=audio:*'))).toEqual([]);
      expect(idsOf(await eventLog(cid, '&start_id=3&end_id=6'))).toEqual([3, 4, 5, 6]);
      expect(idsOf(await eventLog(cid, '&start_id=7'))).toEqual([7, 8]);
      expect(idsOf(await eventLog(cid, '&end_id=2'))).toEqual([1, 2]);
      expect(idsOf(await eventLog(cid, '&start_id=6&end_id=3'))).toEqual([]);
      expect(idsOf(await eventLog(cid, '&order=desc'))).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
      expect(idsOf(await eventLog(cid, '&order=desc&event_type=member:*'))).toEqual([8, 3, 2]);
      expect(idsOf(await eventLog(cid, '&order=desc&start_id=2&end_id=5&event_type=text,member:joined'))).toEqual([5, 4, 3, 2]);

      const typed = await eventLog(cid, '&event_type=custom:my-thing');
      expect(typed[0]).toMatchObject({ type: 'custom:my-thing', body: { any: { nested: [1, 'two', null] } } });
    });

    it('cursor paging visits every event exactly once, in both orders and with filters', async () => {
      const { cid } = await seeded();

      const asc = await allPages(`/v1/conversations/${cid}/events?page_size=3`, 'events');
      expect(asc.map((p) => idsOf(p))).toEqual([
        [1, 2, 3],
        [4, 5, 6],
        [7, 8],
      ]);

      const desc = await allPages(`/v1/conversations/${cid}/events?page_size=3&order=desc`, 'events');
      expect(desc.map((p) => idsOf(p))).toEqual([
        [8, 7, 6],
        [5, 4, 3],
        [2, 1],
      ]);

      const filtered = await allPages(`/v1/conversations/${cid}/events?page_size=1&event_type=member:*&start_id=3`, 'events');
      expect(filtered.map((p) => idsOf(p))).toEqual([[3], [8]]);

      const exact = await allPages(`/v1/conversations/${cid}/events?page_size=4`, 'events');
      expect(exact.map((p) => idsOf(p))).toEqual([
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ]);
    });

    it('gets one event by id, and 404s an unknown id', async () => {
      const { cid, alice } = await seeded();

      const one = await gw.api('GET', `/v1/conversations/${cid}/events/4`);
      expect(one.status).toBe(200);
      expect(one.body).toEqual({ id: 4, type: 'text', from: alice.id, timestamp: expect.any(String), body: { text: 'one' }, conversation_id: cid });
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events/99`), 404, 'EventNotFound');
    });

    it('text:seen must reference an existing text', async () => {
      const { cid, alice } = await seeded();

      const ok = await postEvent(cid, { type: 'text:seen', from: alice.id, body: { event_id: 5 } });
      expect(ok.status).toBe(201);
      expect(ok.body).toMatchObject({ id: 9, type: 'text:seen', from: alice.id, body: { event_id: 5 } });
      expect(ok.headers.get('location')).toBe(`/v1/conversations/${cid}/events/9`);
      const delivered = await postEvent(cid, { type: 'text:delivered', from: alice.id, body: { event_id: 5 } });
      expect(delivered.status).toBe(201);

      expectProblem(await postEvent(cid, { type: 'text:seen', from: alice.id, body: { event_id: 999 } }), 404, 'EventNotFound');
      // An id that exists but is not a text.
      expectProblem(await postEvent(cid, { type: 'text:seen', from: alice.id, body: { event_id: 2 } }), 404, 'EventNotFound');
      expect(idsOf(await eventLog(cid)).at(-1)).toBe(10);
    });

    it('text:update is accepted from the author only', async () => {
      const { cid, alice, bob } = await seeded();

      const byAuthor = await postEvent(cid, { type: 'text:update', from: alice.id, body: { event_id: 4, text: 'one (edited)' } });
      expect(byAuthor.status).toBe(201);
      expect(byAuthor.body).toMatchObject({ type: 'text:update', from: alice.id, body: { event_id: 4, text: 'one (edited)' } });

      expectProblem(await postEvent(cid, { type: 'text:update', from: bob.id, body: { event_id: 4, text: 'hijack' } }), 403, 'Forbidden');
      const bobToken = await gw.token('bob');
      expectProblem(await postEvent(cid, { type: 'text:update', body: { event_id: 4, text: 'hijack' } }, bobToken), 403, 'Forbidden');

      const updates = await eventLog(cid, '&event_type=text:update');
      expect(updates.map((e) => e.body.text)).toEqual(['one (edited)']);
    });

    it('accepts an image with an https url and a custom event, and returns them as posted', async () => {
      const { cid, alice } = await seeded();
      const image = { representations: { original: { url: 'https://cdn.example.com/cat.png', type: 'image/png', size: 1234 } } };

      const posted = await postEvent(cid, { type: 'image', from: alice.id, body: image });
      expect(posted.status).toBe(201);
      expect(posted.body).toMatchObject({ type: 'image', from: alice.id, body: image });
      expect((await gw.api('GET', `/v1/conversations/${cid}/events/${posted.body.id}`)).body.body).toEqual(image);
      const seen = await postEvent(cid, { type: 'image:seen', from: alice.id, body: { event_id: posted.body.id } });
      expect(seen.status).toBe(201);
      // image:seen must point at an image.
      expectProblem(await postEvent(cid, { type: 'image:seen', from: alice.id, body: { event_id: 4 } }), 404, 'EventNotFound');

      const custom = await postEvent(cid, { type: 'custom:my-thing', from: alice.id, body: { score: 42, who: ['a', 'b'] } });
      expect(custom.status).toBe(201);
      expect(custom.body).toMatchObject({ type: 'custom:my-thing', body: { score: 42, who: ['a', 'b'] } });

      const typing = await postEvent(cid, { type: 'text:typing:on', from: alice.id, body: {} });
      expect(typing.status).toBe(201);
      expect((await postEvent(cid, { type: 'text:typing:off', from: alice.id, body: {} })).status).toBe(201);

      expect((await eventLog(cid, '&start_id=9')).map((e) => e.type)).toEqual(['image', 'image:seen', 'custom:my-thing', 'text:typing:on', 'text:typing:off']);
    });

    it('an event sent `to` one member is seen by its sender, its target and the application only', async () => {
      const { cid, alice, bob, carol } = await seeded();
      expect((await gw.api('PATCH', `/v1/conversations/${cid}/members/${carol.id}`, { body: { state: 'joined' } })).status).toBe(200);

      // Act: a private text from alice to bob.
      const dm = await postEvent(cid, { type: 'text', from: alice.id, to: bob.id, body: { text: 'psst' } });

      // Assert
      expect(dm.status).toBe(201);
      expect(dm.body).toMatchObject({ from: alice.id, to: bob.id, body: { text: 'psst' } });
      const id: number = dm.body.id;
      const [aliceToken, bobToken, carolToken] = await Promise.all(['alice', 'bob', 'carol'].map((n) => gw.token(n)));
      const listFor = async (token: string) => idsOf((await gw.api('GET', `/v1/conversations/${cid}/events?page_size=100`, { token })).body._embedded.events);
      expect(await listFor(aliceToken!)).toContain(id);
      expect(await listFor(bobToken!)).toContain(id);
      expect(await listFor(carolToken!)).not.toContain(id);
      expect(idsOf(await eventLog(cid))).toContain(id);
      expect((await gw.api('GET', `/v1/conversations/${cid}/events/${id}`, { token: bobToken! })).body.to).toBe(bob.id);
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events/${id}`, { token: carolToken! }), 404, 'EventNotFound');

      // `to` must be a current member of this conversation.
      const other = await createConversation({ name: 'elsewhere' });
      const stranger = await addMember(other.id, 'dave');
      expectProblem(await postEvent(cid, { type: 'text', from: alice.id, to: stranger.id, body: { text: 'x' } }), 404, 'MemberNotFound');
      // `from` must be a joined member of this conversation.
      expectProblem(await postEvent(cid, { type: 'text', from: stranger.id, body: { text: 'x' } }), 404, 'MemberNotFound');
      expect(idsOf(await eventLog(cid)).at(-1)).toBe(id);
    });

    it('deletes a text: body blanked, id kept, event:delete appended; a second delete and non-deletable types are 409', async () => {
      const { cid, alice } = await seeded();

      // Act
      const del = await gw.api('DELETE', `/v1/conversations/${cid}/events/4`);

      // Assert
      expect(del.status).toBe(204);
      const gone = await gw.api('GET', `/v1/conversations/${cid}/events/4`);
      expect(gone.status).toBe(200);
      expect(gone.body).toMatchObject({ id: 4, type: 'text', from: alice.id, body: {} });
      expect(gone.body.body).toEqual({});
      expect(new Date(gone.body.deleted_at).toISOString()).toBe(gone.body.deleted_at);
      const log = await eventLog(cid);
      expect(idsOf(log)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(log[8]).toMatchObject({ id: 9, type: 'event:delete', from: alice.id, body: { event_id: 4 } });

      expectProblem(await gw.api('DELETE', `/v1/conversations/${cid}/events/4`), 409, 'InvalidState');
      expectProblem(await gw.api('DELETE', `/v1/conversations/${cid}/events/2`), 409, 'InvalidState');
      expectProblem(await gw.api('DELETE', `/v1/conversations/${cid}/events/9`), 409, 'InvalidState');
      expectProblem(await gw.api('DELETE', `/v1/conversations/${cid}/events/999`), 404, 'EventNotFound');
      // A deleted text cannot be updated.
      expectProblem(await postEvent(cid, { type: 'text:update', from: alice.id, body: { event_id: 4, text: 'back' } }), 409, 'InvalidState');
      expect((await gw.api('GET', `/v1/conversations/${cid}/events/2`)).body.type).toBe('member:joined');
      expect(idsOf(await eventLog(cid))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);

      // Custom events can be deleted too.
      expect((await gw.api('DELETE', `/v1/conversations/${cid}/events/7`)).status).toBe(204);
      expect((await gw.api('GET', `/v1/conversations/${cid}/events/7`)).body.body).toEqual({});
    });

    it('a user deletes its own events only', async () => {
      const { cid, alice } = await seeded();
      const aliceToken = await gw.token('alice');
      const bobToken = await gw.token('bob');

      expectProblem(await gw.api('DELETE', `/v1/conversations/${cid}/events/4`, { token: bobToken }), 403, 'Forbidden');
      expect((await gw.api('GET', `/v1/conversations/${cid}/events/4`)).body.body).toEqual({ text: 'one' });

      expect((await gw.api('DELETE', `/v1/conversations/${cid}/events/4`, { token: aliceToken })).status).toBe(204);
      expect((await eventLog(cid)).at(-1)).toMatchObject({ type: 'event:delete', from: alice.id, body: { event_id: 4 } });
    });
  });

  describe('authentication and roles', () => {
    it('401s a missing, garbage, wrongly signed or expired token, saying why', async () => {
      const noToken = await gw.api('GET', '/v1/conversations', { token: null });
      expectProblem(noToken, 401, 'Unauthorized');

      expectProblem(await gw.api('GET', '/v1/conversations', { token: 'garbage' }), 401, 'Unauthorized');
      expectProblem(await gw.api('GET', '/v1/conversations', { token: null, headers: { authorization: 'Basic YWxpY2U6cHc=' } }), 401, 'Unauthorized');

      const wrongSecret = await gw.token('backend', 'application', { secret: 'another-secret-that-is-long-enough-for-hs256' });
      const signed = await gw.api('GET', '/v1/conversations', { token: wrongSecret });
      expectProblem(signed, 401, 'Unauthorized');
      expect(signed.body.detail).toMatch(/signature/i);

      const past = Math.floor(Date.now() / 1000) - 3600;
      const expired = await new SignJWT({ role: 'application', application_id: gw.app.config.applicationId })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject('backend')
        .setIssuedAt(past - 60)
        .setExpirationTime(past)
        .sign(new TextEncoder().encode(TEST_SECRET));
      const exp = await gw.api('GET', '/v1/conversations', { token: expired });
      expectProblem(exp, 401, 'Unauthorized');
      expect(exp.body.detail).toMatch(/expired/i);

      // A token of another application is refused too.
      const otherApp = await new SignJWT({ role: 'application', application_id: 'someone-else' })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject('backend')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(TEST_SECRET));
      expectProblem(await gw.api('GET', '/v1/conversations', { token: otherApp }), 401, 'Unauthorized');

      // None of these created anything.
      expect((await gw.api('GET', '/v1/conversations')).body._embedded.conversations).toEqual([]);
    });

    it('a user reaches only its own conversations and acts only as itself', async () => {
      // Arrange: alice is in `mine` (joined) and invited to `pending`; `theirs` is bob's only.
      const mine = await createConversation({ name: 'mine' });
      const pending = await createConversation({ name: 'pending' });
      const theirs = await createConversation({ name: 'theirs' });
      const alice = await addMember(mine.id, 'alice');
      const bob = await addMember(mine.id, 'bob');
      const aliceInvite = await addMember(pending.id, 'alice', 'invited');
      await addMember(theirs.id, 'bob');
      const token = await gw.token('alice');

      // Not a member: the 404 of a conversation that does not exist, on every read and write.
      expectProblem(await gw.api('GET', `/v1/conversations/${theirs.id}`, { token }), 404, 'ConversationNotFound');
      expectProblem(await gw.api('GET', `/v1/conversations/${theirs.id}/events`, { token }), 404, 'ConversationNotFound');
      expectProblem(await gw.api('GET', `/v1/conversations/${theirs.id}/members`, { token }), 404, 'ConversationNotFound');
      expectProblem(await postEvent(theirs.id, { type: 'text', body: { text: 'let me in' } }, token), 404, 'ConversationNotFound');

      // The listing shows only her conversations.
      const listed = await gw.api('GET', '/v1/conversations', { token });
      expect(listed.status).toBe(200);
      expect(listed.body._embedded.conversations.map((c: any) => c.id).sort()).toEqual([mine.id, pending.id].sort());

      // Management is the application's.
      expectProblem(await gw.api('POST', '/v1/conversations', { token, body: { name: 'mine-too' } }), 403, 'Forbidden');
      expectProblem(await gw.api('PATCH', `/v1/conversations/${mine.id}`, { token, body: { name: 'x' } }), 403, 'Forbidden');
      expectProblem(await gw.api('DELETE', `/v1/conversations/${mine.id}`, { token }), 403, 'Forbidden');
      expectProblem(
        await gw.api('POST', `/v1/conversations/${mine.id}/members`, { token, body: { user: { name: 'eve' }, state: 'joined' } }),
        403,
        'Forbidden',
      );
      expectProblem(await gw.api('PATCH', `/v1/conversations/${mine.id}/members/${bob.id}`, { token, body: { state: 'left' } }), 403, 'Forbidden');

      // Joined: posts a text as herself (no `from` needed), but never as bob.
      const text = await postEvent(mine.id, { type: 'text', body: { text: 'hi from alice' } }, token);
      expect(text.status).toBe(201);
      expect(text.body).toMatchObject({ from: alice.id, body: { text: 'hi from alice' } });
      const asSelf = await postEvent(mine.id, { type: 'text', from: alice.id, body: { text: 'explicit' } }, token);
      expect(asSelf.status).toBe(201);
      expectProblem(await postEvent(mine.id, { type: 'text', from: bob.id, body: { text: 'I am bob' } }, token), 403, 'Forbidden');

      // Invited only: may read, may not post until she joins her own member.
      expect((await gw.api('GET', `/v1/conversations/${pending.id}/events`, { token })).status).toBe(200);
      expectProblem(await postEvent(pending.id, { type: 'text', body: { text: 'early' } }, token), 403, 'Forbidden');
      const joined = await gw.api('PATCH', `/v1/conversations/${pending.id}/members/${aliceInvite.id}`, { token, body: { state: 'joined' } });
      expect(joined.status).toBe(200);
      expect(joined.body.state).toBe('joined');
      expect((await postEvent(pending.id, { type: 'text', body: { text: 'now' } }, token)).status).toBe(201);

      // Assert the logs: only the allowed actions happened.
      expect((await eventLog(mine.id)).map((e) => [e.type, e.from, e.body.text])).toEqual([
        ['conversation:created', 'system', undefined],
        ['member:joined', alice.id, undefined],
        ['member:joined', bob.id, undefined],
        ['text', alice.id, 'hi from alice'],
        ['text', alice.id, 'explicit'],
      ]);
      expect((await eventLog(pending.id)).map((e) => e.type)).toEqual(['conversation:created', 'member:invited', 'member:joined', 'text']);
      expect((await eventLog(theirs.id)).map((e) => e.type)).toEqual(['conversation:created', 'member:joined']);
      expect((await gw.api('GET', '/v1/conversations?page_size=100')).body._embedded.conversations.map((c: any) => c.name)).toEqual([
        'mine',
        'pending',
        'theirs',
      ]);
    });

    it('a user who left no longer reaches the conversation', async () => {
      const c = await createConversation({ name: 'was-mine' });
      const alice = await addMember(c.id, 'alice');
      const token = await gw.token('alice');
      const left = await gw.api('PATCH', `/v1/conversations/${c.id}/members/${alice.id}`, { token, body: { state: 'left' } });
      expect(left.status).toBe(200);

      expectProblem(await gw.api('GET', `/v1/conversations/${c.id}`, { token }), 404, 'ConversationNotFound');
      expect((await gw.api('GET', '/v1/conversations', { token })).body._embedded.conversations).toEqual([]);
    });

    it('an operator reads everything but cannot create or change', async () => {
      const a = await createConversation({ name: 'a' });
      const b = await createConversation({ name: 'b' });
      const alice = await addMember(a.id, 'alice');
      await postEvent(a.id, { type: 'text', from: alice.id, body: { text: 'hello' } });
      const token = await gw.token('olga', 'operator');

      const listed = await gw.api('GET', '/v1/conversations', { token });
      expect(listed.status).toBe(200);
      expect(listed.body._embedded.conversations.map((c: any) => c.id)).toEqual([a.id, b.id]);
      expect((await gw.api('GET', `/v1/conversations/${b.id}`, { token })).body.name).toBe('b');
      expect((await gw.api('GET', `/v1/conversations/${a.id}/members`, { token })).body._embedded.members.map((m: any) => m.id)).toEqual([alice.id]);
      const events = await gw.api('GET', `/v1/conversations/${a.id}/events`, { token });
      expect(events.body._embedded.events.map((e: any) => e.type)).toEqual(['conversation:created', 'member:joined', 'text']);
      expect((await gw.api('GET', `/v1/conversations/${a.id}/events/3`, { token })).body.body).toEqual({ text: 'hello' });

      expectProblem(await gw.api('POST', '/v1/conversations', { token, body: { name: 'ops' } }), 403, 'Forbidden');
      expectProblem(await gw.api('PATCH', `/v1/conversations/${a.id}`, { token, body: { name: 'renamed' } }), 403, 'Forbidden');
      expectProblem(await gw.api('DELETE', `/v1/conversations/${b.id}`, { token }), 403, 'Forbidden');
      expectProblem(await gw.api('POST', `/v1/conversations/${a.id}/members`, { token, body: { user: { name: 'x' }, state: 'joined' } }), 403, 'Forbidden');
      expectProblem(await gw.api('DELETE', `/v1/conversations/${a.id}/events/3`, { token }), 403, 'Forbidden');

      expect((await gw.api('GET', '/v1/conversations')).body._embedded.conversations.map((c: any) => c.name)).toEqual(['a', 'b']);
      expect((await eventLog(a.id)).map((e) => e.type)).toEqual(['conversation:created', 'member:joined', 'text']);
    });
  });

  describe('health and metrics', () => {
    it('/healthz and /readyz answer without a token', async () => {
      const health = await gw.api('GET', '/healthz', { token: null });
      expect(health.status).toBe(200);
      expect(health.body).toEqual({ status: 'ok' });

      const ready = await gw.api('GET', '/readyz', { token: null });
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: 'ready' });
    });

    it('/metrics counts HTTP requests and appended events', async () => {
      // Arrange: some traffic.
      const c = await createConversation({ name: 'metered' });
      const alice = await addMember(c.id, 'alice');
      await postEvent(c.id, { type: 'text', from: alice.id, body: { text: 'hi' } });

      // Act
      const res = await gw.api('GET', '/metrics', { token: null });

      // Assert
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = res.body as string;
      expect(text).toContain('# TYPE legway_http_requests_total counter');
      expect(text).toMatch(/^legway_http_requests_total\{method="POST",route="\/v1\/conversations",status="201"\} 1$/m);
      expect(text).toContain('# TYPE legway_events_appended_total counter');
      expect(text).toMatch(/^legway_events_appended_total\{family="conversation"\} 1$/m);
      expect(text).toMatch(/^legway_events_appended_total\{family="member"\} 1$/m);
      expect(text).toMatch(/^legway_events_appended_total\{family="text"\} 1$/m);
    });

    it("/metrics times the store's group commits and the WAL syncs that make them durable", async () => {
      // Arrange: a gateway that syncs each group's WAL before announcing it (synchronous=full, the default outside tests).
      const durable = await startGateway({ env: { LEGWAY_SQLITE_SYNCHRONOUS: 'full' } });
      const series = async (): Promise<{ commits: number; commitSeconds: number; syncs: number; syncSeconds: number }> => {
        const text = (await durable.api('GET', '/metrics', { token: null })).body as string;
        const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
        return {
          commits: value('legway_store_commit_seconds_count'),
          commitSeconds: value('legway_store_commit_seconds_sum'),
          syncs: value('legway_store_wal_sync_seconds_count'),
          syncSeconds: value('legway_store_wal_sync_seconds_sum'),
        };
      };
      try {
        const before = await series();

        // Act: three writes, each acknowledged only once durable.
        const created = await durable.api('POST', '/v1/conversations', { body: { name: 'timed' } });
        expect(created.status).toBe(201);
        const cid = (created.body as { id: string }).id;
        const member = await durable.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
        expect(member.status).toBe(201);
        const text = await durable.api('POST', `/v1/conversations/${cid}/events`, {
          body: { type: 'text', from: (member.body as { id: string }).id, body: { text: 'hi' } },
        });
        expect(text.status).toBe(201);
        const after = await series();

        // Assert: each write committed in a group of its own turn, and was synced before it was answered.
        expect(after.commits - before.commits).toBeGreaterThanOrEqual(3);
        expect(after.commitSeconds).toBeGreaterThan(before.commitSeconds);
        expect(after.syncs - before.syncs).toBeGreaterThanOrEqual(1);
        expect(after.syncs).toBeLessThanOrEqual(after.commits);
        expect(after.syncSeconds).toBeGreaterThan(before.syncSeconds);
      } finally {
        await durable.close();
      }
    });
  });
});
