import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, type ApiResponse, type TestGateway } from '../support/gateway.js';

const SQL_DROP = "'; DROP TABLE events; --";
const SQL_OR = '" OR 1=1 --';
const UNKNOWN_CONVERSATION = 'CON-00000000-0000-4000-8000-000000000000';

/** A JSON problem with the given status and code, and nothing of the server's insides in it. */
function expectProblem(res: ApiResponse, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: `urn:legway:error:${code}`, title: expect.any(String), detail: expect.any(String) });
  expectNoInternals(res);
}

function expectNoInternals(res: ApiResponse): void {
  const text = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
  expect(text).not.toMatch(/\bat .+[:(]\d+/); // stack frames ("at fn (file:1:2)")
  expect(text).not.toMatch(/^\s*at /m);
  expect(text).not.toContain('node_modules');
  expect(text).not.toContain('/work/');
  expect(text).not.toMatch(/SQLITE|sqlite/);
  expect(res.body).not.toHaveProperty('stack');
}

describe('REST API under hostile input', () => {
  let gw: TestGateway;
  let cid: string;
  let alice: any;

  beforeEach(async () => {
    gw = await startGateway();
    cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'target' } })).body.id;
    alice = (await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } })).body;
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'bob' }, state: 'joined' } });
    const text = await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: alice.id, body: { text: 'original' } } });
    expect(text.status).toBe(201);
  });
  afterEach(async () => {
    await gw.close();
  });

  /** Everything a client could see of the gateway's state, to compare before and after an attack. */
  async function snapshot(): Promise<unknown> {
    const conversations = await gw.api('GET', '/v1/conversations?page_size=100');
    const result: Record<string, unknown> = { conversations: conversations.body._embedded.conversations };
    for (const c of conversations.body._embedded.conversations) {
      result[`${c.id}:events`] = (await gw.api('GET', `/v1/conversations/${c.id}/events?page_size=100`)).body._embedded.events;
      result[`${c.id}:members`] = (await gw.api('GET', `/v1/conversations/${c.id}/members?page_size=100`)).body._embedded.members;
    }
    return result;
  }

  describe('malformed requests', () => {
    it('malformed JSON is a 400 problem, never a stack trace', async () => {
      const before = await snapshot();
      for (const [method, path, raw] of [
        ['POST', '/v1/conversations', '{"name": '],
        ['POST', '/v1/conversations', '{name: "unquoted"}'],
        ['POST', '/v1/conversations', '{"__proto__": {"admin": true}, "name": "x"'],
        ['PATCH', `/v1/conversations/${cid}`, "{'single': 'quotes'}"],
        ['POST', `/v1/conversations/${cid}/members`, '{"user": {"name": "eve"}, }'],
        ['POST', `/v1/conversations/${cid}/events`, '\u0000\u0001\u0002'],
        ['PATCH', `/v1/conversations/${cid}/members/${alice.id as string}`, 'not json at all'],
      ] as const) {
        const res = await gw.api(method, path, { raw, headers: { 'content-type': 'application/json' } });
        expectProblem(res, 400, 'BadRequest');
      }
      expect(await snapshot()).toEqual(before);
    });

    it('an empty JSON body on a route that needs one is refused', async () => {
      const res = await gw.api('POST', `/v1/conversations/${cid}/members`, { raw: '', headers: { 'content-type': 'application/json' } });
      expect([400, 422]).toContain(res.status);
      expectNoInternals(res);
    });

    it('a 100 KB body is 413 PayloadTooLarge', async () => {
      const before = await snapshot();
      const raw = JSON.stringify({ name: 'x'.repeat(100 * 1024) });

      const res = await gw.api('POST', '/v1/conversations', { raw, headers: { 'content-type': 'application/json' } });

      expectProblem(res, 413, 'PayloadTooLarge');
      const big = await gw.api('POST', `/v1/conversations/${cid}/events`, {
        body: { type: 'custom:big', from: alice.id, body: { blob: 'y'.repeat(100 * 1024) } },
      });
      expectProblem(big, 413, 'PayloadTooLarge');
      expect(await snapshot()).toEqual(before);
    });

    it('non-JSON content types are 415', async () => {
      const before = await snapshot();
      for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const res = await gw.api('POST', '/v1/conversations', { raw: 'name=sneaky', headers: { 'content-type': type } });
        expectProblem(res, 415, 'UnsupportedMediaType');
      }
      const plainJson = await gw.api('POST', `/v1/conversations/${cid}/events`, {
        raw: JSON.stringify({ type: 'text', from: alice.id, body: { text: 'as text/plain' } }),
        headers: { 'content-type': 'text/plain' },
      });
      expectProblem(plainJson, 415, 'UnsupportedMediaType');
      expect(await snapshot()).toEqual(before);
    });

    it('wrong types in bodies are 422 ValidationFailed naming the field; bad query values are 400', async () => {
      const before = await snapshot();

      const name = await gw.api('POST', '/v1/conversations', { body: { name: 123 } });
      expectProblem(name, 422, 'ValidationFailed');
      expect(name.body.invalid_parameters).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'name' })]));

      for (const body of [
        { name: ['a'] },
        { name: '' },
        { name: '   ' },
        { name: 'line\nbreak' },
        { display_name: { x: 1 } },
        { properties: { ttl: 'forever' } },
        { properties: { ttl: -5 } },
        { properties: { ttl: 1.5 } },
        { properties: { custom_data: 'not an object' } },
        [],
        'a string',
      ]) {
        expectProblem(await gw.api('POST', '/v1/conversations', { body }), 422, 'ValidationFailed');
      }

      const state = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'eve' }, state: 'banana' } });
      expectProblem(state, 422, 'ValidationFailed');
      expect(state.body.invalid_parameters).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'state' })]));
      expectProblem(await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: {} } }), 422, 'ValidationFailed');
      expectProblem(await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: 'eve' } }), 422, 'ValidationFailed');
      expectProblem(await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { id: 'USR-1' } } }), 422, 'ValidationFailed');
      expectProblem(await gw.api('PATCH', `/v1/conversations/${cid}/members/${alice.id as string}`, { body: { state: 'banana' } }), 422, 'ValidationFailed');
      expectProblem(await gw.api('PATCH', `/v1/conversations/${cid}/members/${alice.id as string}`, { body: { state: 'invited' } }), 422, 'ValidationFailed');
      expectProblem(await gw.api('PATCH', `/v1/conversations/${cid}`, { body: {} }), 422, 'ValidationFailed');
      expectProblem(await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 42, from: alice.id, body: {} } }), 422, 'ValidationFailed');
      expectProblem(
        await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: 'alice', body: { text: 'x' } } }),
        422,
        'ValidationFailed',
      );

      for (const q of ['page_size=0', 'page_size=1000', 'page_size=x', 'page_size=-1', 'page_size=2.5', 'order=sideways', 'cursor=%00%01', 'cursor=bm9wZQ']) {
        expectProblem(await gw.api('GET', `/v1/conversations?${q}`), 400, 'BadRequest');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events?${q}`), 400, 'BadRequest');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/members?${q}`), 400, 'BadRequest');
      }
      for (const q of ['start_id=0', 'start_id=-3', 'end_id=abc', 'start_id=1e400', 'event_type=*', 'event_type=text;', `event_type=${'a,'.repeat(30)}`]) {
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events?${q}`), 400, 'BadRequest');
      }
      // A blank type list is no filter at all.
      const blank = await gw.api('GET', `/v1/conversations/${cid}/events?event_type=%20,`);
      expect(blank.status).toBe(200);
      expect(blank.body._embedded.events.map((e: any) => e.id)).toEqual([1, 2, 3, 4]);

      expect(await snapshot()).toEqual(before);
    });

    it('unknown extra keys are refused (422 in bodies, 400 in queries), not stored', async () => {
      const before = await snapshot();

      expectProblem(await gw.api('POST', '/v1/conversations', { body: { name: 'extra', admin: true } }), 422, 'ValidationFailed');
      expectProblem(await gw.api('POST', '/v1/conversations', { body: { name: 'extra', properties: { ttl: 5, owner: 'me' } } }), 422, 'ValidationFailed');
      expectProblem(await gw.api('PATCH', `/v1/conversations/${cid}`, { body: { state: 'deleted' } }), 422, 'ValidationFailed');
      expectProblem(await gw.api('PATCH', `/v1/conversations/${cid}`, { body: { id: 'CON-x', name: 'stolen' } }), 422, 'ValidationFailed');
      expectProblem(
        await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'eve' }, state: 'joined', role: 'admin' } }),
        422,
        'ValidationFailed',
      );
      expectProblem(
        await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'eve', is_admin: true }, state: 'joined' } }),
        422,
        'ValidationFailed',
      );
      expectProblem(
        await gw.api('PATCH', `/v1/conversations/${cid}/members/${alice.id as string}`, { body: { state: 'left', media: { muted: true } } }),
        422,
        'ValidationFailed',
      );
      expectProblem(
        await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: alice.id, body: { text: 'hi', html: '<b>x</b>' } } }),
        422,
        'ValidationFailed',
      );
      expectProblem(
        await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: alice.id, body: { text: 'hi' }, id: 1 } }),
        422,
        'ValidationFailed',
      );
      expectProblem(await gw.api('GET', `/v1/conversations?admin=1`), 400, 'BadRequest');
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events?where=1`), 400, 'BadRequest');

      expect(await snapshot()).toEqual(before);
    });
  });

  describe('injection and unknown ids', () => {
    it('SQL metacharacters in names are stored literally, and the data stays intact', async () => {
      const before: any = await snapshot();
      const eventsBefore = (before[`${cid}:events`] as unknown[]).length;

      // Act: names full of SQL.
      const drop = await gw.api('POST', '/v1/conversations', { body: { name: SQL_DROP, display_name: SQL_OR } });
      const or = await gw.api('POST', '/v1/conversations', { body: { name: SQL_OR } });
      const member = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: SQL_DROP, display_name: SQL_OR }, state: 'joined' } });
      const said = await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: alice.id, body: { text: SQL_DROP } } });
      const custom = await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'custom:x', from: alice.id, body: { [SQL_OR]: SQL_DROP } } });

      // Assert: stored and returned as given.
      expect(drop.status).toBe(201);
      expect(drop.body).toMatchObject({ name: SQL_DROP, display_name: SQL_OR });
      expect(or.status).toBe(201);
      expect((await gw.api('GET', `/v1/conversations/${drop.body.id as string}`)).body.name).toBe(SQL_DROP);
      expect((await gw.api('GET', `/v1/conversations/${or.body.id as string}`)).body.name).toBe(SQL_OR);
      expect(member.status).toBe(201);
      expect(member.body.user).toMatchObject({ name: SQL_DROP, display_name: SQL_OR });
      expect(said.status).toBe(201);
      expect(custom.status).toBe(201);
      expectProblem(await gw.api('POST', '/v1/conversations', { body: { name: SQL_DROP } }), 409, 'ConversationNameTaken');

      // A user whose name is SQL reaches exactly its own conversation.
      const sqlUser = await gw.token(SQL_DROP);
      const mine = await gw.api('GET', '/v1/conversations', { token: sqlUser });
      expect(mine.body._embedded.conversations.map((c: any) => c.id)).toEqual([cid]);
      const orUser = await gw.token(SQL_OR);
      expect((await gw.api('GET', '/v1/conversations', { token: orUser })).body._embedded.conversations).toEqual([]);
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}`, { token: orUser }), 404, 'ConversationNotFound');

      // The rest is intact: the event table survived, counts add up.
      const after: any = await snapshot();
      expect(after.conversations).toHaveLength(3);
      const log = after[`${cid}:events`] as any[];
      expect(log).toHaveLength(eventsBefore + 3);
      expect(log.slice(0, eventsBefore)).toEqual(before[`${cid}:events`]);
      expect(log.slice(eventsBefore).map((e) => e.type)).toEqual(['member:joined', 'text', 'custom:x']);
      expect(log.at(-2).body.text).toBe(SQL_DROP);
      expect(log.at(-1).body).toEqual({ [SQL_OR]: SQL_DROP });
    });

    it('SQL metacharacters in ids and filters are 4xx and change nothing', async () => {
      const before = await snapshot();
      for (const evil of [SQL_DROP, SQL_OR, `${cid}' OR '1'='1`, `${cid}; DROP TABLE conversations`]) {
        const e = encodeURIComponent(evil);
        expectProblem(await gw.api('GET', `/v1/conversations/${e}`), 404, 'ConversationNotFound');
        expectProblem(await gw.api('DELETE', `/v1/conversations/${e}`), 404, 'ConversationNotFound');
        expectProblem(await gw.api('PATCH', `/v1/conversations/${e}`, { body: { name: 'x' } }), 404, 'ConversationNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${e}/events`), 404, 'ConversationNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${e}/members`), 404, 'ConversationNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/members/${e}`), 404, 'MemberNotFound');
        expectProblem(await gw.api('PATCH', `/v1/conversations/${cid}/members/${e}`, { body: { state: 'left' } }), 404, 'MemberNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events/${e}`), 404, 'EventNotFound');
        expectProblem(await gw.api('DELETE', `/v1/conversations/${cid}/events/${e}`), 404, 'EventNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events?event_type=${e}`), 400, 'BadRequest');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events?event_type=text,${e}`), 400, 'BadRequest');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events?start_id=${e}`), 400, 'BadRequest');
        expectProblem(await gw.api('GET', `/v1/conversations?cursor=${e}`), 400, 'BadRequest');
        expectProblem(
          await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: evil, body: { text: 'x' } } }),
          422,
          'ValidationFailed',
        );
        expectProblem(await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: evil, from: alice.id, body: {} } }), 422, 'ValidationFailed');
      }
      // LIKE wildcards in a prefix filter match literally, not everything.
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events?event_type=${encodeURIComponent('%*')}`), 400, 'BadRequest');
      const underscore = await gw.api('GET', `/v1/conversations/${cid}/events?event_type=____*`);
      expect(underscore.status).toBe(200);
      expect(underscore.body._embedded.events).toEqual([]);

      expect(await snapshot()).toEqual(before);
    });

    it('unknown and malformed conversation ids are 404 ConversationNotFound', async () => {
      const before = await snapshot();
      for (const id of [UNKNOWN_CONVERSATION, 'nope', 'CON-', 'con-' + cid.slice(4), `${cid}x`, '..%2F..%2Fetc%2Fpasswd', 'x'.repeat(150), '%E2%98%83']) {
        expectProblem(await gw.api('GET', `/v1/conversations/${id}`), 404, 'ConversationNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${id}/events`), 404, 'ConversationNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${id}/members`), 404, 'ConversationNotFound');
        expectProblem(
          await gw.api('POST', `/v1/conversations/${id}/members`, { body: { user: { name: 'eve' }, state: 'joined' } }),
          404,
          'ConversationNotFound',
        );
        expectProblem(
          await gw.api('POST', `/v1/conversations/${id}/events`, { body: { type: 'text', from: alice.id, body: { text: 'x' } } }),
          404,
          'ConversationNotFound',
        );
        expectProblem(await gw.api('PATCH', `/v1/conversations/${id}`, { body: { name: 'x' } }), 404, 'ConversationNotFound');
        expectProblem(await gw.api('DELETE', `/v1/conversations/${id}`), 404, 'ConversationNotFound');
      }
      // URLs the router refuses (an absurdly long id, broken percent-encoding) are problems too,
      // and do not echo the path back.
      const huge = await gw.api('GET', `/v1/conversations/${'x'.repeat(5000)}`);
      expectProblem(huge, 400, 'BadRequest');
      expect(JSON.stringify(huge.body)).not.toContain('xxxxxxxxxx');
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}/members/${'m'.repeat(300)}`), 400, 'BadRequest');
      expectProblem(await gw.api('GET', '/v1/conversations/%E0%A4%A'), 400, 'BadRequest');
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events/%ZZ`), 400, 'BadRequest');
      // Unknown routes are problems too.
      expectProblem(await gw.api('GET', '/v1/nothing-here'), 404, 'NotFound');
      expectProblem(await gw.api('PUT', `/v1/conversations/${cid}`, { body: { name: 'x' } }), 404, 'NotFound');

      expect(await snapshot()).toEqual(before);
    });

    it("another user's conversation is 404 (as if it did not exist) for every request, 403 for management, and nothing changes", async () => {
      const before = await snapshot();
      const eve = await gw.token('eve');
      const mallory = await gw.token('mallory', 'user', { join: ['some-other-room'] });
      for (const token of [eve, mallory]) {
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}`, { token }), 404, 'ConversationNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events`, { token }), 404, 'ConversationNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events/1`, { token }), 404, 'ConversationNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/members`, { token }), 404, 'ConversationNotFound');
        expectProblem(await gw.api('GET', `/v1/conversations/${cid}/members/${alice.id as string}`, { token }), 404, 'ConversationNotFound');
        expectProblem(
          await gw.api('PATCH', `/v1/conversations/${cid}/members/${alice.id as string}`, { token, body: { state: 'left' } }),
          404,
          'ConversationNotFound',
        );
        expectProblem(
          await gw.api('POST', `/v1/conversations/${cid}/events`, { token, body: { type: 'text', body: { text: 'hi' } } }),
          404,
          'ConversationNotFound',
        );
        expectProblem(
          await gw.api('POST', `/v1/conversations/${cid}/events`, { token, body: { type: 'text', from: alice.id, body: { text: 'hi' } } }),
          404,
          'ConversationNotFound',
        );
        expectProblem(await gw.api('DELETE', `/v1/conversations/${cid}/events/4`, { token }), 404, 'ConversationNotFound');
        expectProblem(await gw.api('POST', `/v1/conversations/${cid}/members`, { token, body: { user: { name: 'eve' }, state: 'joined' } }), 403, 'Forbidden');
        expectProblem(await gw.api('DELETE', `/v1/conversations/${cid}`, { token }), 403, 'Forbidden');
        expect((await gw.api('GET', '/v1/conversations', { token })).body._embedded.conversations).toEqual([]);
      }
      // A member acting on another member is refused as well.
      const bobToken = await gw.token('bob');
      expectProblem(
        await gw.api('PATCH', `/v1/conversations/${cid}/members/${alice.id as string}`, { token: bobToken, body: { state: 'left' } }),
        403,
        'Forbidden',
      );
      expectProblem(await gw.api('DELETE', `/v1/conversations/${cid}/events/4`, { token: bobToken }), 403, 'Forbidden');
      expectProblem(
        await gw.api('POST', `/v1/conversations/${cid}/events`, { token: bobToken, body: { type: 'text', from: alice.id, body: { text: 'x' } } }),
        403,
        'Forbidden',
      );

      expect(await snapshot()).toEqual(before);
    });

    it('hostile Authorization headers are 401 and change nothing', async () => {
      const before = await snapshot();
      const none = (alg: string) =>
        `${Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'backend', role: 'application', exp: 9999999999 })).toString('base64url')}.`;
      for (const authorization of [
        'Bearer',
        'Bearer ',
        `Bearer ${gw.appToken} extra`,
        `Bearer ${'a'.repeat(9000)}`,
        `Bearer ${none('none')}`,
        `Bearer ${none('HS512')}`,
        `Bearer ${gw.appToken.split('.').slice(0, 2).join('.')}.`,
        `Bearer ${gw.appToken.slice(0, -4)}AAAA`,
        `Token ${gw.appToken}`,
        `Bearer ${SQL_DROP.replaceAll(' ', '')}`,
      ]) {
        const res = await gw.api('POST', '/v1/conversations', { token: null, headers: { authorization }, body: { name: 'intruder' } });
        expectProblem(res, 401, 'Unauthorized');
      }
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('invalid event bodies', () => {
    it('are 422 ValidationFailed and append nothing', async () => {
      const before = await snapshot();
      const post = (type: unknown, body: unknown) => gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type, from: alice.id, body } });
      const cases: [unknown, unknown][] = [
        ['text', { text: '' }],
        ['text', { text: 'x'.repeat(5000) }],
        ['text', {}],
        ['text', { text: 42 }],
        ['text', null],
        ['text', 'just a string'],
        ['image', { representations: { original: { url: 'javascript:alert(1)' } } }],
        ['image', { representations: { original: { url: 'data:text/html;base64,PHNjcmlwdD4=' } } }],
        ['image', { representations: { original: { url: 'file:///etc/passwd' } } }],
        ['image', { representations: { original: { url: 'not a url' } } }],
        ['image', { representations: {} }],
        ['text:seen', { event_id: 'four' }],
        ['text:seen', { event_id: -1 }],
        ['text:update', { event_id: 4 }],
        ['text:typing:on', { sneaky: true }],
        ['custom:x', 'not an object'],
        ['custom:x', []],
        ['custom:x', { deep: JSON.parse('['.repeat(20) + ']'.repeat(20)) }],
        ['custom:', { a: 1 }],
        ['custom:has space', { a: 1 }],
        ['conversation:deleted', { id: cid, name: 'target', timestamp: { destroyed: new Date().toISOString() } }],
        ['member:left', { member_id: alice.id }],
        ['event:delete', { event_id: 4 }],
        ['audio:dtmf', { digit: '1' }],
        ['nonsense', {}],
        ['', {}],
      ];
      for (const [type, body] of cases) {
        const res = await post(type, body);
        expectProblem(res, 422, 'ValidationFailed');
      }

      const after: any = await snapshot();
      expect(after).toEqual(before);
      expect((await gw.api('GET', `/v1/conversations/${cid}/events/4`)).body.body).toEqual({ text: 'original' });
      expectProblem(await gw.api('GET', `/v1/conversations/${cid}/events/5`), 404, 'EventNotFound');
    });

    it('a custom body over 16 KB is refused and appends nothing', async () => {
      const before = await snapshot();
      const res = await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'custom:big', from: alice.id, body: { blob: 'z'.repeat(20_000) } } });
      expectProblem(res, 422, 'ValidationFailed');
      expect(await snapshot()).toEqual(before);
    });
  });
});

describe('REST rate limit', () => {
  let gw: TestGateway;

  beforeEach(async () => {
    gw = await startGateway({ env: { LEGWAY_REST_RATE_LIMIT: '5' } });
  });
  afterEach(async () => {
    await gw.close();
  });

  it('the 6th request in a minute from one token is 429 RateLimited, while another user is still served', async () => {
    // Arrange
    const alice = await gw.token('alice');
    const bob = await gw.token('bob');

    // Act: five allowed requests, then one too many.
    const allowed: number[] = [];
    for (let i = 0; i < 5; i++) allowed.push((await gw.api('GET', '/v1/conversations', { token: alice })).status);
    const limited = await gw.api('GET', '/v1/conversations', { token: alice });

    // Assert
    expect(allowed).toEqual([200, 200, 200, 200, 200]);
    expectProblem(limited, 429, 'RateLimited');
    expect(limited.body.detail).toMatch(/rate limit/i);
    // Still limited, whatever the route.
    expectProblem(await gw.api('GET', '/v1/conversations/nope', { token: alice }), 429, 'RateLimited');
    // A fresh token for the same user shares the user's budget.
    expectProblem(await gw.api('GET', '/v1/conversations', { token: await gw.token('alice') }), 429, 'RateLimited');

    // Another user, and health checks, are unaffected.
    const other = await gw.api('GET', '/v1/conversations', { token: bob });
    expect(other.status).toBe(200);
    expect(other.body._embedded.conversations).toEqual([]);
    expect((await gw.api('GET', '/healthz', { token: null })).status).toBe(200);
    // Requests without a valid token are 401, not counted against anyone.
    expectProblem(await gw.api('GET', '/v1/conversations', { token: 'garbage' }), 401, 'Unauthorized');
  });

  it('a limited application cannot create anything', async () => {
    for (let i = 0; i < 5; i++) expect((await gw.api('POST', '/v1/conversations', { body: { name: `r${i}` } })).status).toBe(201);

    expectProblem(await gw.api('POST', '/v1/conversations', { body: { name: 'r5' } }), 429, 'RateLimited');

    const operator = await gw.token('olga', 'operator');
    const listed = await gw.api('GET', '/v1/conversations?page_size=100', { token: operator });
    expect(listed.body._embedded.conversations.map((c: any) => c.name)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
  });
});
