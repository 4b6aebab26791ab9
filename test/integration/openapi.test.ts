import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type { RouteEntry } from '../../src/interfaces/http/contract.js';
import { encodeWav } from '../../src/media/sources/wav.js';
import { FakeMediaEngine, fakeOfferSdp } from '../support/fakeEngine.js';
import { EventRecorder, request, startGateway, type ApiResponse, type TestGateway } from '../support/gateway.js';
import { sine } from '../support/tone.js';

/**
 * The REST API's contract, /openapi.json, against the real gateway: it is valid OpenAPI 3.1, every
 * registered route is in it with request and response schemas (deliberate exceptions aside), and a
 * tour of every route shows that what each answers is what its schemas say, status included.
 */

/** Routes outside the API: pages and their files, and the document itself. */
const NOT_API = ['GET /', 'GET /call', 'GET /console', 'GET /web/*', 'GET /openapi.json'];
/** Routes that take no request body although their method could carry one. */
const NO_BODY = ['POST /v1/webhooks/failed/replay', 'POST /v1/webhooks/failed/:id/replay'];

type ResponseSpec = z.ZodType | { description?: string; content: Record<string, { schema: z.ZodType }> };

let gw: TestGateway;
let engine: FakeMediaEngine;
let mediaDir: string;
let doc: any;

const key = (r: { method: string; url: string }): string => `${r.method} ${r.url}`;
/** Routes as the API has them: fastify's automatic HEAD twins of GET routes left out. */
const apiRoutes = (g = gw): RouteEntry[] => g.app.http.routeTable.filter((r) => r.method !== 'HEAD');
const openApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{*}');
const isBodyMethod = (method: string): boolean => ['POST', 'PUT', 'PATCH'].includes(method);

beforeAll(async () => {
  mediaDir = mkdtempSync(join(tmpdir(), 'legway-openapi-media-'));
  writeFileSync(join(mediaDir, 'tone.wav'), encodeWav(sine(1000, 8000, 16_000, 16_000), 16_000));
  engine = new FakeMediaEngine();
  gw = await startGateway({ engine, env: { LEGWAY_MEDIA_DIR: mediaDir } });
  const res = await gw.api('GET', '/openapi.json', { token: null });
  expect(res.status).toBe(200);
  doc = res.body;
});

afterAll(async () => {
  await gw.close();
  rmSync(mediaDir, { recursive: true, force: true });
});

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, served without a token', async () => {
    const res = await gw.api('GET', '/openapi.json', { token: null });

    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body.openapi).toBe('3.1.0');
    const result = await new Validator().validate(res.body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(res.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  });

  it('describes every registered route with its request and response schemas', () => {
    const routes = apiRoutes();
    const hidden = routes.filter((r) => r.schema?.hide === true).map(key);
    expect(hidden.sort()).toEqual([...NOT_API].sort());

    const problems: string[] = [];
    for (const route of routes.filter((r) => r.schema?.hide !== true)) {
      const name = key(route);
      const schema = route.schema;
      const responses = Object.keys(schema?.response ?? {});
      if (!responses.some((s) => s.startsWith('2'))) problems.push(`${name}: no success response schema`);
      if (route.url.startsWith('/v1/') && !responses.some((s) => s.startsWith('4'))) problems.push(`${name}: no error response schema`);
      if (route.url.includes(':') && schema?.params === undefined) problems.push(`${name}: no params schema`);
      if (isBodyMethod(route.method) && !NO_BODY.includes(name) && schema?.body === undefined) problems.push(`${name}: no body schema`);

      const operation = doc.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      if (!operation) {
        problems.push(`${name}: missing from /openapi.json`);
        continue;
      }
      const pathParams = [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]);
      const documented = (operation.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name);
      if (documented.sort().join() !== pathParams.sort().join()) problems.push(`${name}: path parameters ${documented.join()} documented`);
      if ((schema?.body !== undefined) !== (operation.requestBody !== undefined)) problems.push(`${name}: request body not documented as declared`);
      if (Object.keys(operation.responses).sort().join() !== responses.sort().join()) problems.push(`${name}: responses differ from the route's`);
    }
    expect(problems).toEqual([]);

    // And nothing is documented that the gateway does not serve.
    const served = new Set(routes.map((r) => `${r.method.toLowerCase()} ${openApiPath(r.url)}`));
    const operations = Object.entries(doc.paths as Record<string, object>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    expect(operations.filter((op) => !served.has(op))).toEqual([]);
  });
});

describe('every route answers as documented', () => {
  /** `METHOD url-pattern` of each route a tour request reached. */
  const visited = new Set<string>();
  const mismatches: string[] = [];

  /** The route `path` reaches: static segments win over parameters, as in fastify's router. */
  function routeOf(g: TestGateway, method: string, path: string): RouteEntry | undefined {
    const matches = apiRoutes(g).filter((r) => {
      const pattern = r.url
        .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
        .replace(/:[A-Za-z0-9_]+/g, '[^/]+')
        .replace(/\*$/, '.*');
      return r.method === method && new RegExp(`^${pattern}$`).test(path.split('?')[0] ?? '');
    });
    return matches.sort((a, b) => a.url.split(':').length - b.url.split(':').length)[0];
  }

  /** What the route's schema says about `status` with this content type, or why it says nothing. */
  function schemaFor(route: RouteEntry, status: number, contentType: string | null): z.ZodType | string {
    const spec = (route.schema?.response as Record<string, ResponseSpec> | undefined)?.[String(status)];
    if (spec === undefined) return `status ${status} is not documented`;
    if (!('content' in spec)) return spec;
    const media = (contentType ?? '').split(';')[0]!.trim();
    return spec.content[media]?.schema ?? `${media || 'no content type'} is not documented for ${status}`;
  }

  /** A request through `g`'s real HTTP API, checked against its route's response schemas. */
  async function callOn(g: TestGateway, method: string, path: string, options: Parameters<TestGateway['api']>[2] = {}): Promise<ApiResponse> {
    const res = await g.api(method, path, options);
    const route = routeOf(g, method, path);
    if (!route) throw new Error(`no route for ${method} ${path}`);
    visited.add(key(route));
    const schema = schemaFor(route, res.status, res.headers.get('content-type'));
    if (typeof schema === 'string') {
      mismatches.push(`${key(route)}: ${schema}`);
      return res;
    }
    // A WAV download's body is bytes: only its declared content type is checked.
    if (res.headers.get('content-type')?.startsWith('audio/')) return res;
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) mismatches.push(`${key(route)} ${res.status}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    // Parsing drops fields a schema does not name: a body that loses some was not fully described.
    else if (!isDeepStrictEqual(parsed.data, res.body)) mismatches.push(`${key(route)} ${res.status}: fields not described in ${JSON.stringify(res.body)}`);
    return res;
  }

  const call = (method: string, path: string, options: Parameters<TestGateway['api']>[2] = {}): Promise<ApiResponse> => callOn(gw, method, path, options);

  it('the development login, when it is on', async () => {
    const dev = await startGateway({ devSecret: true });
    try {
      await callOn(dev, 'GET', '/dev/login', { token: null });
      await callOn(dev, 'POST', '/dev/login', { token: null, body: { name: 'dev', role: 'operator' } });
      await callOn(dev, 'POST', '/dev/login', { token: null, body: { name: 'dev', conversation: 'room' } });
      await callOn(dev, 'POST', '/dev/login', { token: null, body: { name: 'd e v' } });
      await callOn(dev, 'POST', '/dev/login', { token: null, body: { name: 'dev', conversation: 'CON-00000000-0000-4000-8000-000000000000' } });
    } finally {
      await dev.close();
    }
    expect(mismatches).toEqual([]);
  });

  it('through a tour of every route, in success and in error', async () => {
    // Conversations.
    const conv = (await call('POST', '/v1/conversations', { body: { name: 'tour', properties: { ttl: 600, custom_data: { a: 1 } } } })).body;
    const other = (await call('POST', '/v1/conversations', { body: { name: 'elsewhere' } })).body;
    await call('POST', '/v1/conversations', { body: { name: 'tour' } });
    await call('POST', '/v1/conversations', { body: { name: 42 } });
    await call('POST', '/v1/conversations', { raw: '{"name":', headers: { 'content-type': 'application/json' } });
    await call('POST', '/v1/conversations', { raw: 'name=x', headers: { 'content-type': 'text/plain' } });
    await call('POST', '/v1/conversations', { raw: JSON.stringify({ name: 'x'.repeat(200_000) }), headers: { 'content-type': 'application/json' } });
    await call('GET', '/v1/conversations?page_size=1');
    await call('GET', '/v1/conversations?page_size=0');
    await call('GET', '/v1/conversations', { token: 'garbage' });
    await call('GET', `/v1/conversations/${conv.id}`);
    await call('GET', '/v1/conversations/nope');
    await call('GET', `/v1/conversations/${conv.id}`, { token: await gw.token('stranger') });
    await call('PATCH', `/v1/conversations/${conv.id}`, { body: { display_name: 'The tour' } });
    await call('PATCH', `/v1/conversations/${conv.id}`, { body: {} });

    // Members, over REST and a socket (which the WebRTC leg needs).
    const bob = (await call('POST', `/v1/conversations/${conv.id}/members`, { body: { user: { name: 'bob' }, state: 'invited' } })).body;
    await call('POST', `/v1/conversations/${conv.id}/members`, { body: { user: { name: 'bob' } } });
    await call('GET', `/v1/conversations/${conv.id}/members`);
    await call('GET', `/v1/conversations/${conv.id}/members/${bob.id}`);
    await call('GET', `/v1/conversations/${conv.id}/members/MEM-x`);
    await call('PATCH', `/v1/conversations/${conv.id}/members/${bob.id}`, { body: { state: 'joined' } });
    await call('PATCH', `/v1/conversations/${conv.id}/members/${bob.id}`, { body: { state: 'invited' } });
    await call('POST', `/v1/conversations/${conv.id}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
    const alice = await gw.connect(await gw.token('alice'));
    const seen = new EventRecorder(alice);
    const joined = await request(alice, 'conversation:join', { conversation_id: conv.id });
    expect(joined).toMatchObject({ ok: true });

    // Events.
    const text = (await call('POST', `/v1/conversations/${conv.id}/events`, { body: { type: 'text', from: joined.member_id, body: { text: 'hi' } } })).body;
    await call('POST', `/v1/conversations/${conv.id}/events`, { body: { type: 'text', from: joined.member_id, body: { text: '' } } });
    await call('GET', `/v1/conversations/${conv.id}/events?event_type=text,member:*&page_size=2`);
    await call('GET', `/v1/conversations/${conv.id}/events?start_id=0`);
    await call('GET', `/v1/conversations/${conv.id}/events/${text.id}`);
    await call('GET', `/v1/conversations/${conv.id}/events/999`);
    await call('DELETE', `/v1/conversations/${conv.id}/events/${text.id}`);
    await call('DELETE', `/v1/conversations/${conv.id}/events/${text.id}`);
    await call('GET', `/v1/conversations/${conv.id}/events/${text.id}`);

    // A WebRTC leg on the fake engine, and what can be done to it.
    const rtc = await request(alice, 'rtc:new', { conversation_id: conv.id, offer: { type: 'offer', sdp: fakeOfferSdp() } });
    expect(rtc).toMatchObject({ ok: true });
    const legId: string = rtc.leg_id;
    engine.endpoint(legId).connect();
    await seen.waitFor((e) => e.type === 'member:media' && e.body.leg_id === legId && e.body.media.audio === true);
    await call('GET', `/v1/legs/${legId}`);
    await call('GET', '/v1/legs/00000000-0000-4000-8000-000000000000');
    await call('GET', `/v1/conversations/${conv.id}/legs`);
    await call('PUT', `/v1/legs/${legId}`, { body: { action: 'mute' } });
    await call('PUT', `/v1/legs/${legId}`, { body: { action: 'fly' } });
    await call('PUT', `/v1/legs/${legId}/dtmf`, { body: { digits: '12#' } });
    await call('PUT', `/v1/legs/${legId}/dtmf`, { body: { digits: 'xyz' } });
    for (const target of [`/v1/legs/${legId}`, `/v1/conversations/${conv.id}`]) {
      await call('PUT', `${target}/stream`, { body: { stream_url: ['tone.wav'], loop: 0 } });
      await call('PUT', `${target}/stream`, { body: { stream_url: ['/etc/passwd'] } });
      await call('DELETE', `${target}/stream`);
      await call('PUT', `${target}/talk`, { body: { text: 'hello', language: 'en' } });
      await call('PUT', `${target}/talk`, { body: {} });
      await call('DELETE', `${target}/talk`);
      await call('PUT', `${target}/record`, { body: { split: target.includes('conversations') } });
      await call('PUT', `${target}/record`, { body: { format: 'mp3' } });
      await call('DELETE', `${target}/record`);
    }
    await call('PUT', '/v1/conversations/nope/stream', { body: { stream_url: 'tone.wav' } });

    // Recordings (the ones just stopped finish as their files close).
    const recorded = await seen.waitFor((e) => e.type === 'audio:record:done');
    const recordingId: string = recorded.body.recording_id;
    await call('GET', `/v1/conversations/${conv.id}/recordings`);
    await call('GET', `/v1/recordings/${recordingId}`, { headers: { accept: 'application/json' } });
    await call('GET', `/v1/recordings/${recordingId}`);
    await call('GET', `/v1/recordings/${recordingId}`, { headers: { range: 'bytes=0-9' } });
    await call('GET', `/v1/recordings/${recordingId}`, { headers: { range: 'bytes=999999999-' } });
    await call('GET', '/v1/recordings/not-a-uuid');
    await call('DELETE', `/v1/recordings/${recordingId}`);
    await call('DELETE', `/v1/recordings/${recordingId}`);

    // The leg moves on, and ends.
    await call('PUT', `/v1/legs/${legId}`, { body: { action: 'transfer', conversation_id: other.id } });
    await call('PUT', `/v1/legs/${legId}`, { body: { action: 'hangup' } });

    // Knocking: carol asks to come in, and is let in.
    const carol = await gw.connect(await gw.token('carol'));
    const knock = await request(carol, 'conversation:knock', { conversation_id: conv.id });
    expect(knock).toMatchObject({ ok: true });
    await call('GET', `/v1/conversations/${conv.id}/knockings`);
    await call('PUT', `/v1/knockings/${knock.knocking_id}`, { body: { action: 'admit' } });
    await call('PUT', `/v1/knockings/${knock.knocking_id}`, { body: { action: 'admit' } });
    await call('PUT', `/v1/knockings/${knock.knocking_id}`, { body: { action: 'wave' } });

    // Webhooks, calls, health.
    await call('GET', '/v1/webhooks/failed');
    await call('GET', '/v1/webhooks/failed?order=desc');
    await call('POST', '/v1/webhooks/failed/replay');
    await call('POST', '/v1/webhooks/failed/12/replay');
    await call('POST', '/v1/webhooks/failed/replay', { token: await gw.token('alice') });
    await call('POST', '/v1/calls', { body: { to: { type: 'sip', uri: 'sip:bob@127.0.0.1' }, conversation_id: conv.id } });
    await call('POST', '/v1/calls', { body: { to: { type: 'tel', uri: '123' }, conversation_id: conv.id } });
    // Token revocation: revoked now, revoked already, a bad id, and a user who may not.
    await call('POST', '/v1/tokens/revocations', { body: { jti: 'tour-token' } });
    await call('POST', '/v1/tokens/revocations', { body: { jti: 'tour-token' } });
    await call('POST', '/v1/tokens/revocations', { body: { jti: 'has spaces' } });
    await call('POST', '/v1/tokens/revocations', { body: { jti: 'another' }, token: await gw.token('alice') });
    await call('GET', '/healthz', { token: null });
    await call('GET', '/readyz', { token: null });
    await call('GET', '/metrics', { token: null });
    await call('GET', '/dev/login', { token: null });
    await call('POST', '/dev/login', { token: null, body: { name: 'dev' } });

    // Last, the conversation goes.
    await call('DELETE', `/v1/conversations/${conv.id}`);
    await call('DELETE', `/v1/conversations/${conv.id}`);

    expect(mismatches).toEqual([]);
    const documented = apiRoutes()
      .filter((r) => r.schema?.hide !== true)
      .map(key);
    expect(documented.filter((name) => !visited.has(name))).toEqual([]);
  });
});
