import fc from 'fast-check';
import { Pool } from 'undici';
import { ERROR_CODES } from '../src/domain/errors.js';
import type { FuzzWorld } from './gateway.js';
import { checkAsync, InvariantFailure, Tally, type Budget, type TargetResult } from './property.js';
import { listRoutes, type Route } from './routes.js';
import { confine, json, payloads, worldValues } from './shapes.js';
import { runChecked, type CheckedRun, type StateWatch } from './stateWatch.js';

const QUERY_KEYS = ['page_size', 'order', 'cursor', 'start_id', 'end_id', 'event_type', 'type', 'id', 'q'];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/problem+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  '',
];
const EXTRA_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];

type TokenKind =
  'application' | 'user' | 'stranger' | 'operator' | 'none' | 'garbage' | 'wrongSecret' | 'expired' | 'otherApplication' | 'basic' | 'tampered' | 'lowercase';
const TOKEN_KINDS: readonly TokenKind[] = [
  'application',
  'user',
  'stranger',
  'operator',
  'none',
  'garbage',
  'wrongSecret',
  'expired',
  'otherApplication',
  'basic',
  'tampered',
  'lowercase',
];

interface RestInput {
  readonly route: number;
  readonly method: number | string;
  readonly params: readonly { value: unknown; encoding: 'encoded' | 'raw' | 'bad-percent' }[];
  readonly query: readonly (readonly [string, string])[];
  readonly body: { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'raw'; text: string };
  readonly contentType: string;
  readonly token: TokenKind;
}

function authorization(world: FuzzWorld, kind: TokenKind): string | undefined {
  const t = world.tokens;
  switch (kind) {
    case 'application':
    case 'user':
    case 'stranger':
    case 'operator':
    case 'wrongSecret':
    case 'expired':
    case 'otherApplication':
      return `Bearer ${t[kind]}`;
    case 'none':
      return undefined;
    case 'garbage':
      return 'Bearer not.a.token';
    case 'basic':
      return 'Basic ZnV6ejpmdXp6';
    case 'tampered':
      return `Bearer ${t.application.slice(0, -3)}${t.application.endsWith('AAA') ? 'BBB' : 'AAA'}`;
    case 'lowercase':
      return `bearer ${t.application}`;
  }
}

/** Percent-encodes text as UTF-8; lone surrogates (which encodeURIComponent refuses) as U+FFFD. */
function encode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return [...Buffer.from(text, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  }
}

function pathOf(route: Route, params: RestInput['params']): string {
  let i = 0;
  const fill = (): string => {
    const p = params[i++] ?? { value: 'x', encoding: 'encoded' as const };
    const text = typeof p.value === 'string' ? p.value : json(p.value);
    // Raw: as typed, bytes 0x80-0xFF included, but nothing undici refuses to send (it leaves its
    // connection unusable after refusing a path: undici 7).
    if (p.encoding === 'raw') return text.replace(/[^\x21-\x7e\x80-\xff]|[#?]/g, '_');
    if (p.encoding === 'bad-percent') return `${encode(text)}%zz`;
    return encode(text);
  };
  return route.path.replace(/:[A-Za-z_]+|\*/g, () => fill());
}

function queryOf(query: RestInput['query']): string {
  if (query.length === 0) return '';
  return `?${query.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&')}`;
}

/** Checks a response; true when it accepts the request. A 5xx, or a 4xx without a problem body naming a catalogued code, fails. */
function judge(status: number, contentType: string | undefined, text: string, method: string): boolean {
  // 503 Unavailable is a refusal the gateway means (media off, pages not built, shutting down); any other 5xx is a failure.
  const unavailable = status === 503 && (method === 'HEAD' || /"code":"Unavailable"/.test(text));
  if (status >= 500 && !unavailable) throw new InvariantFailure(`answered ${status}: ${text.slice(0, 300)}`);
  if (status < 400) return true;
  if (method === 'HEAD') return false;
  let problem: { code?: unknown; detail?: unknown };
  try {
    problem = JSON.parse(text) as { code?: unknown; detail?: unknown };
  } catch {
    throw new InvariantFailure(`answered ${status} (${contentType ?? 'no content type'}) without a JSON problem body: ${text.slice(0, 200)}`);
  }
  if (typeof problem.code !== 'string' || !(problem.code in ERROR_CODES))
    throw new InvariantFailure(`answered ${status} with a problem body without a catalogued code: ${text.slice(0, 200)}`);
  return false;
}

/**
 * REST requests over real HTTP (undici, keep-alive) to every route of the gateway's own route
 * table: each route's methods and others, path parameters from the seeded world and arbitrary
 * (encoded, raw, with bad percent-encoding), random query strings, JSON bodies shaped like the
 * input schemas and wrong, broken JSON, other content types, and every kind of bad or missing
 * token. Each must be answered below 500, a 4xx with a problem body and a catalogued code; a
 * rejected one must change nothing in the store.
 */
export async function fuzzRestRequests(budget: Budget, world: FuzzWorld, watch: StateWatch, every?: (n: number) => Promise<void>): Promise<TargetResult> {
  const routes = listRoutes(world.gateway.app.http);
  const newPool = (): Pool => new Pool(world.gateway.url, { connections: 2, pipelining: 1 });
  let pool = newPool();
  let poolsReplaced = 0;
  const tally = new Tally();
  const checked: CheckedRun = { watch, tally, background: 0 };
  const values = worldValues(world);
  let count = 0;
  let clientRefused = 0;
  const bodyLimit = world.gateway.config.bodyLimit;
  const jsonText = payloads(world).map((v) => json(v));
  const arbitrary: fc.Arbitrary<RestInput> = fc.record({
    route: fc.nat({ max: routes.length - 1 }),
    method: fc.oneof({ weight: 8, arbitrary: fc.nat() }, { weight: 1, arbitrary: fc.constantFrom(...EXTRA_METHODS) }),
    params: fc.array(
      fc.record({
        value: fc.oneof(
          { weight: 4, arbitrary: values },
          { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
          { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
        ),
        encoding: fc.constantFrom('encoded' as const, 'encoded' as const, 'encoded' as const, 'raw' as const, 'bad-percent' as const),
      }),
      { minLength: 2, maxLength: 2 },
    ),
    query: fc.array(
      fc.tuple(
        fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 8 })),
        fc.oneof(
          values.map((v) => String(v)),
          fc.string({ maxLength: 20 }),
        ),
      ),
      { maxLength: 4 },
    ),
    body: fc.oneof(
      { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
      { weight: 8, arbitrary: payloads(world).map((value) => ({ kind: 'json' as const, value })) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(jsonText, fc.nat(), fc.constantFrom('', '}', '{', '"', ',', '\u0000', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}'))
          .map(([text, cut, extra]) => ({ kind: 'raw' as const, text: text.slice(0, text.length === 0 ? 0 : cut % text.length) + extra })),
      },
    ),
    contentType: fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) }),
    token: fc.oneof({ weight: 6, arbitrary: fc.constant('application' as const) }, { weight: 4, arbitrary: fc.constantFrom(...TOKEN_KINDS) }),
  });
  const requestOf = (input: RestInput) => {
    const route = routes[input.route]!;
    const method = typeof input.method === 'string' ? input.method : (route.methods[input.method % route.methods.length] ?? 'GET');
    const auth = authorization(world, input.token);
    const body =
      input.body.kind === 'none' || method === 'GET' || method === 'HEAD'
        ? undefined
        : input.body.kind === 'json'
          ? json(confine(input.body.value))
          : input.body.text;
    const headers: Record<string, string> = {
      ...(auth !== undefined && { authorization: auth }),
      ...(body !== undefined && input.contentType !== '' && { 'content-type': input.contentType }),
    };
    return { method, path: `${pathOf(route, input.params)}${queryOf(input.query)}`, headers, body };
  };
  try {
    const run = await checkAsync(
      arbitrary,
      async (input) => {
        const req = requestOf(input);
        await runChecked(checked, async () => {
          const send = () =>
            pool.request({
              method: req.method,
              path: req.path,
              headers: req.headers,
              ...(req.body !== undefined && { body: req.body }),
              headersTimeout: 10_000,
              bodyTimeout: 10_000,
              // Also ends a request still queued in the pool.
              signal: AbortSignal.timeout(15_000),
            });
          let res;
          try {
            try {
              res = await send();
            } catch (err) {
              const code = (err as { code?: string; name?: string }).code ?? (err as Error).name;
              if (code !== 'UND_ERR_ABORTED' && code !== 'TimeoutError' && code !== 'UND_ERR_HEADERS_TIMEOUT') throw err;
              // A client connection that went wrong is not the gateway's failure: once more on fresh ones.
              void pool.destroy();
              pool = newPool();
              poolsReplaced++;
              res = await send();
            }
          } catch (err) {
            // undici refuses some requests itself (a path it cannot send): nothing reached the gateway.
            const code = (err as { code?: string }).code;
            if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_CHAR' || code === 'ERR_INVALID_ARG_VALUE') {
              clientRefused++;
              return { result: undefined, accepted: false };
            }
            throw new InvariantFailure(`no answer: ${(err as Error).message}`);
          }
          const text = await res.body.text();
          const contentType = res.headers['content-type'];
          const accepted = judge(res.statusCode, typeof contentType === 'string' ? contentType : undefined, text, req.method);
          if (res.statusCode === 413 && Buffer.byteLength(req.body ?? '') <= bodyLimit) throw new InvariantFailure('413 for a body within the limit');
          return { result: res.statusCode, accepted };
        });
        if (++count % 10_000 === 0) await every?.(count);
      },
      budget,
      tally,
      (input) => {
        const req = requestOf(input);
        return `${req.method} ${req.path} ${JSON.stringify(req.headers)} ${req.body === undefined ? '(no body)' : JSON.stringify(req.body.slice(0, 2000))}`;
      },
    );
    return {
      name: 'REST requests (real HTTP)',
      method: [
        `undici over 2 keep-alive connections to the ${routes.length} routes of the gateway's own route table (${routes.map((r) => r.path).join(' ')})`,
        'route methods and others; path params from the seeded world or arbitrary (encoded, raw, bad %); random query strings; JSON bodies from the input schemas, arbitrary, broken or none; 7 content types; 12 kinds of token (good, bad, missing)',
        `one request at a time; every answer below 500 and every 4xx a problem body with a catalogued code; ${clientRefused} requests undici refused to send; ${poolsReplaced} client pools replaced after a request got no answer (then answered on a fresh connection)`,
        `store checked around every rejected request (${checked.background} background writes told apart by replaying the input)`,
      ],
      ...run,
      ...tally.counts(),
    };
  } finally {
    await pool.close();
  }
}
