import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { PAGE_CSP, webRoutes } from '../../src/interfaces/http/routes/web.js';
import { request, startGateway, type TestGateway } from '../support/gateway.js';

/** The browser pages and scripts (from dist/web: run `npm run build` first) and the development login. */

let gw: TestGateway | undefined;
const extra: TestGateway[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const g of extra.splice(0)) await g.close();
  await gw?.close();
  gw = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function start(options: Parameters<typeof startGateway>[0] = {}): Promise<TestGateway> {
  gw = await startGateway(options);
  return gw;
}

/**
 * A GET sent exactly as written: fetch would resolve `..` and `%2e%2e` before sending, and adds
 * `cache-control: no-cache` to conditional requests.
 */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | undefined; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function login(g: TestGateway, body: unknown): Promise<any> {
  return g.api('POST', '/dev/login', { token: null, body });
}

async function conversationCount(g: TestGateway): Promise<number> {
  const res = await g.api('GET', '/v1/conversations?page_size=100');
  expect(res.status).toBe(200);
  return res.body._embedded.conversations.length as number;
}

describe('web pages', () => {
  it.each([
    ['/call', 'call.js'],
    ['/console', 'console.js'],
  ])('%s is an HTML page with a strict Content-Security-Policy', async (path, script) => {
    const g = await start();

    const res = await fetch(`${g.url}${path}`);

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.text()).toContain(script);
  });

  it('serves the client library and page scripts as JavaScript under /web/, cached with an ETag', async () => {
    const g = await start();

    const res = await fetch(`${g.url}/web/legway-client.js`);
    const body = await res.text();

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/javascript/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toMatch(/max-age=3600/);
    expect(body.length).toBeGreaterThan(1000);
    const etag = res.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await rawGet(g.url, '/web/legway-client.js', { 'if-none-match': etag ?? '' });
    expect(again.status).toBe(304);
    for (const file of ['call.js', 'console.js', 'legway.css']) expect((await fetch(`${g.url}/web/${file}`)).status).toBe(200);
  });

  it.each([
    '/web/../package.json',
    '/web/../../package.json',
    '/web/%2e%2e/package.json',
    '/web/%2e%2e%2fpackage.json',
    '/web/..%2f..%2fpackage.json',
    '/web/./legway-client.js',
    '/web//legway-client.js',
    '/web/',
    '/web/no-such-file.js',
  ])('refuses %s with 404 problem JSON', async (path) => {
    const g = await start();

    const res = await rawGet(g.url, path);

    expect(res.status).toBe(404);
    expect(res.type).toMatch(/^application\/problem\+json/);
    expect(res.body).not.toContain('"version"');
    expect(JSON.parse(res.body)).toMatchObject({ code: 'NotFound' });
  });

  it.each([
    ['no build folder', join(tmpdir(), 'legway-no-such-folder')],
    ['a build folder without pages', 'empty'],
  ])('answers 503 problem JSON with %s, and starts anyway', async (_what, folder) => {
    const root = folder === 'empty' ? mkdtempSync(join(tmpdir(), 'legway-web-')) : folder;
    dirs.push(root);
    const app = Fastify();
    await app.register(webRoutes, { root });

    const responses = await Promise.all(['/call', '/console', '/web/legway-client.js'].map((url) => app.inject({ method: 'GET', url })));
    await app.close();

    const [call, consolePage, script] = responses;
    for (const res of [call, consolePage]) {
      expect(res?.statusCode).toBe(503);
      expect(res?.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res?.json()).toMatchObject({ code: 'Unavailable', detail: 'web pages not built; run npm run build' });
    }
    // An empty build folder is served as it is: its scripts are simply not there.
    expect(script?.statusCode).toBe(folder === 'empty' ? 404 : 503);
  });

  it('the package exports the client library as legway/client, with its type declarations', () => {
    const resolved = new URL(import.meta.resolve('legway/client'));
    expect(resolved.pathname.endsWith('/dist/web/legway-client.js')).toBe(true);
    const source = readFileSync(resolved, 'utf8');
    expect(source).toMatch(/export\s*\{[^}]*LegwayClient/);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const types = readFileSync(new URL(`../../${pkg.exports['./client'].types}`, import.meta.url), 'utf8');
    expect(types).toContain('LegwayClient');
    expect(types).toContain('OperatorClient');
  });

  it('redirects / to /call', async () => {
    const g = await start();

    const res = await fetch(`${g.url}/`, { redirect: 'manual' });

    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/call');
  });
});

describe('development login', () => {
  it('is available when LEGWAY_DEV_LOGIN is on', async () => {
    const g = await start({ devLogin: true });

    const res = await g.api('GET', '/dev/login', { token: null });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ available: true });
  });

  it('mints a user token for a new conversation, which the user then joins', async () => {
    const g = await start({ devLogin: true });
    const before = Date.now();

    const res = await login(g, { name: 'alice', conversation: 'standup' });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ role: 'user', sub: 'alice', conversation_id: expect.stringMatching(/^CON-/) });
    const expiresIn = Date.parse(res.body.expires_at) - before;
    expect(expiresIn).toBeGreaterThan(12 * 3600_000 - 5000);
    expect(expiresIn).toBeLessThanOrEqual(12 * 3600_000 + 1000);
    const created = await g.api('GET', `/v1/conversations/${res.body.conversation_id}`);
    expect(created.body.name).toBe('standup');

    const socket = await g.connect(res.body.token);
    const ack = await request(socket, 'conversation:join', { conversation_id: res.body.conversation_id });
    expect(ack).toMatchObject({ ok: true, conversation_id: res.body.conversation_id });
  });

  it('finds an existing conversation by name or id instead of creating another', async () => {
    const g = await start({ devLogin: true });
    const first = await login(g, { name: 'alice', conversation: 'standup' });
    const cid: string = first.body.conversation_id;

    const byName = await login(g, { name: 'bob', conversation: 'standup' });
    const byId = await login(g, { name: 'carol', conversation: cid });
    const unknownId = await login(g, { name: 'dave', conversation: 'CON-00000000-0000-4000-8000-000000000000' });

    expect(byName.body.conversation_id).toBe(cid);
    expect(byId.body.conversation_id).toBe(cid);
    expect(unknownId.status).toBe(404);
    expect(unknownId.body).toMatchObject({ code: 'ConversationNotFound' });
    expect(unknownId.body.token).toBeUndefined();
    expect(await conversationCount(g)).toBe(1);
  });

  it.each(['operator', 'application'])('refuses to mint a %s token, minting and creating nothing', async (role) => {
    const g = await start({ devLogin: true });

    const res = await login(g, { name: 'olga@example.com', role, conversation: 'standup' });

    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'Forbidden', detail: expect.stringContaining('user tokens only') });
    expect(res.body.detail).toContain(`legway token --sub NAME --role ${role}`);
    expect(res.body.token).toBeUndefined();
    expect(await conversationCount(g)).toBe(0);
  });

  it('answers loopback peers only: another address gets 403, whatever X-Forwarded-For says', async () => {
    const g = await start({ devLogin: true });
    const body = JSON.stringify({ name: 'mallory', conversation: 'standup' });
    const headers = { 'content-type': 'application/json' };

    // A peer on the network (fastify's inject sets the peer address; nothing leaves this process).
    const remote = await g.app.http.inject({ method: 'POST', url: '/dev/login', remoteAddress: '192.0.2.7', headers, payload: body });
    const forwarded = await g.app.http.inject({
      method: 'POST',
      url: '/dev/login',
      remoteAddress: '198.51.100.1',
      headers: { ...headers, 'x-forwarded-for': '127.0.0.1' },
      payload: body,
    });
    const probe = await g.app.http.inject({ method: 'GET', url: '/dev/login', remoteAddress: '2001:db8::1' });
    const mappedLoopback = await g.app.http.inject({ method: 'POST', url: '/dev/login', remoteAddress: '::ffff:127.0.0.1', headers, payload: body });

    for (const res of [remote, forwarded, probe]) {
      expect(res.statusCode).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'Forbidden', detail: expect.stringContaining('loopback') });
      expect(res.json().token).toBeUndefined();
    }
    expect(mappedLoopback.statusCode).toBe(200);
    // Only the loopback login created its conversation.
    expect(await conversationCount(g)).toBe(1);
  });

  it('keeps its tokens valid across a restart on the same data folder and port', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'legway-test-'));
    dirs.push(dataDir);
    const first = await startGateway({ devSecret: true, devLogin: true, dataDir });
    extra.push(first);
    const minted = await login(first, { name: 'alice', conversation: 'standup' });
    const port = Number(new URL(first.url).port);
    await first.close();

    const g = await start({ devSecret: true, devLogin: true, dataDir, port });
    const socket = await g.connect(minted.body.token);
    const ack = await request(socket, 'conversation:join', { conversation_id: 'standup' });

    expect(g.url).toBe(first.url);
    expect(g.app.config.secretSource).toBe('data-dir');
    expect(ack).toMatchObject({ ok: true, conversation_id: minted.body.conversation_id });
  });

  it.each([
    ['by default, even on the development secret', { devSecret: true }],
    ['by default with a configured LEGWAY_SECRET', {}],
  ])('is off (404 for GET and POST) %s', async (_what, options) => {
    const g = await start(options);

    const get = await g.api('GET', '/dev/login', { token: null });
    const post = await login(g, { name: 'alice', conversation: 'standup' });
    const notJson = await g.api('POST', '/dev/login', { token: null, raw: 'name=alice', headers: { 'content-type': 'application/x-www-form-urlencoded' } });

    for (const res of [get, post, notJson]) {
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ code: 'NotFound', detail: expect.stringContaining('development login is off') });
    }
    expect(await conversationCount(g)).toBe(0);
  });

  it.each([
    ['an unknown role', { name: 'alice', role: 'root' }, 422],
    ["a name in the gateway-made users' namespace", { name: 'sip-+15551234' }, 422],
    ['a name in that namespace in capitals', { name: 'SIP-alice' }, 422],
    ['a name with spaces', { name: 'alice smith' }, 422],
    ['an empty name', { name: '' }, 422],
    ['a name too long', { name: 'a'.repeat(101) }, 422],
    ['no name', { conversation: 'standup' }, 422],
    ['an extra field', { name: 'alice', conversation: 'standup', join: ['*'] }, 422],
    ['a conversation name with control characters', { name: 'alice', conversation: 'stand\u0000up' }, 422],
    ['a body that is not an object', ['alice'], 422],
  ])('refuses %s without minting or creating anything', async (_what, body, status) => {
    const g = await start({ devLogin: true });

    const res = await login(g, body);

    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('ValidationFailed');
    expect(res.body.token).toBeUndefined();
    expect(await conversationCount(g)).toBe(0);
  });

  it('limits logins to 30 a minute from one address', async () => {
    const g = await start({ devLogin: true });

    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await login(g, { name: `user${i}` })).status);
    const limited = await login(g, { name: 'one-more' });

    expect(statuses.slice(0, 30).every((s) => s === 200)).toBe(true);
    expect(statuses[30]).toBe(429);
    expect(limited.body).toMatchObject({ code: 'RateLimited' });
  });

  it('refuses bodies that are not JSON', async () => {
    const g = await start({ devLogin: true });

    const malformed = await g.api('POST', '/dev/login', { token: null, raw: '{"name":', headers: { 'content-type': 'application/json' } });
    const form = await g.api('POST', '/dev/login', { token: null, raw: 'name=alice', headers: { 'content-type': 'application/x-www-form-urlencoded' } });

    expect(malformed.status).toBe(400);
    expect(form.status).toBe(415);
    for (const res of [malformed, form]) {
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body.token).toBeUndefined();
    }
    expect(await conversationCount(g)).toBe(0);
  });
});
