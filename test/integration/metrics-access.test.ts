/**
 * Who may read /metrics. By default it is served on the main port to this host only (loopback
 * peers) or to an application or operator token; LEGWAY_METRICS_TOKEN makes it answer that bearer
 * token alone; LEGWAY_METRICS_LISTEN moves it to a listener of its own.
 *
 * Everything goes over real HTTP on 127.0.0.1, except the requests of peers on other hosts: the
 * tests may send nothing off loopback, so those are injected into the same fastify instance
 * with the peer address a remote client's socket would have.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';

const METRICS_TOKEN = 'scraper-token-0123456789abcdef';

/** GET `url` with an optional bearer; the status and problem code (if any) of the answer. */
async function get(url: string, bearer?: string): Promise<{ status: number; code: string | undefined; text: string }> {
  const res = await fetch(url, bearer === undefined ? {} : { headers: { authorization: `Bearer ${bearer}` } });
  const text = await res.text();
  const code = res.headers.get('content-type')?.startsWith('application/problem+json') ? (JSON.parse(text) as { code: string }).code : undefined;
  return { status: res.status, code, text };
}

/** GET /metrics as a peer at `remoteAddress` would (see the file's comment). */
async function getFrom(gw: TestGateway, remoteAddress: string, headers: Record<string, string> = {}): Promise<{ status: number; code: string | undefined }> {
  const res = await gw.app.http.inject({ method: 'GET', url: '/metrics', remoteAddress, headers });
  return { status: res.statusCode, code: res.statusCode === 200 ? undefined : res.json<{ code: string }>().code };
}

describe('/metrics access', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('by default answers this host without a token, and a peer elsewhere only with an application or operator token', async () => {
    gw = await startGateway();
    const local = await get(`${gw.url}/metrics`);
    expect(local.status).toBe(200);
    expect(local.text).toContain('# TYPE legway_http_requests_total counter');
    expect((await getFrom(gw, '::1')).status).toBe(200);
    expect((await getFrom(gw, '::ffff:127.0.0.1')).status).toBe(200);

    const remote = '192.0.2.10';
    expect(await getFrom(gw, remote)).toEqual({ status: 401, code: 'Unauthorized' });
    expect(await getFrom(gw, '::ffff:192.0.2.10')).toEqual({ status: 401, code: 'Unauthorized' });
    // A forwarded-for header is the client's own say-so.
    expect(await getFrom(gw, remote, { 'x-forwarded-for': '127.0.0.1' })).toEqual({ status: 401, code: 'Unauthorized' });
    expect(await getFrom(gw, remote, { authorization: 'Bearer not-a-jwt' })).toEqual({ status: 401, code: 'Unauthorized' });
    expect(await getFrom(gw, remote, { authorization: `Bearer ${await gw.token('alice')}` })).toEqual({ status: 403, code: 'Forbidden' });
    expect((await getFrom(gw, remote, { authorization: `Bearer ${await gw.token('olga', 'operator')}` })).status).toBe(200);
    expect((await getFrom(gw, remote, { authorization: `Bearer ${gw.appToken}` })).status).toBe(200);
  });

  it('with LEGWAY_METRICS_TOKEN answers that bearer token only, even to this host', async () => {
    gw = await startGateway({ env: { LEGWAY_METRICS_TOKEN: METRICS_TOKEN } });
    const url = `${gw.url}/metrics`;
    expect(await get(url)).toMatchObject({ status: 401, code: 'Unauthorized' });
    expect(await get(url, `${METRICS_TOKEN}x`)).toMatchObject({ status: 401, code: 'Unauthorized' });
    expect(await get(url, METRICS_TOKEN.slice(0, -1))).toMatchObject({ status: 401, code: 'Unauthorized' });
    expect(await get(url, gw.appToken)).toMatchObject({ status: 401, code: 'Unauthorized' });
    const ok = await get(url, METRICS_TOKEN);
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('# TYPE legway_http_requests_total counter');
    expect((await getFrom(gw, '192.0.2.10', { authorization: `Bearer ${METRICS_TOKEN}` })).status).toBe(200);
    // The rest of the API is unchanged: the metrics token is no API token.
    expect((await gw.api('GET', '/v1/conversations', { token: METRICS_TOKEN })).status).toBe(401);
    expect((await gw.api('GET', '/v1/conversations')).status).toBe(200);
  });

  it('with LEGWAY_METRICS_LISTEN serves /metrics on that listener only, which serves nothing else and closes with the gateway', async () => {
    gw = await startGateway({ env: { LEGWAY_METRICS_LISTEN: '127.0.0.1:0' } });
    const port = gw.app.metricsPort;
    expect(port).toBeTypeOf('number');
    const own = `http://127.0.0.1:${port}`;
    expect(await get(`${gw.url}/metrics`)).toMatchObject({ status: 404, code: 'NotFound' });
    const ok = await get(`${own}/metrics`);
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('# TYPE legway_http_requests_total counter');
    expect(await get(`${own}/v1/conversations`, gw.appToken)).toMatchObject({ status: 404, code: 'NotFound' });
    expect(await get(`${own}/healthz`)).toMatchObject({ status: 404, code: 'NotFound' });

    await gw.close();
    gw = undefined;
    await expect(fetch(`${own}/metrics`)).rejects.toThrow();
  });

  it('with both, the listener of its own asks for the token', async () => {
    gw = await startGateway({ env: { LEGWAY_METRICS_LISTEN: '127.0.0.1:0', LEGWAY_METRICS_TOKEN: METRICS_TOKEN } });
    const own = `http://127.0.0.1:${gw.app.metricsPort}/metrics`;
    expect(await get(own)).toMatchObject({ status: 401, code: 'Unauthorized' });
    expect(await get(own, gw.appToken)).toMatchObject({ status: 401, code: 'Unauthorized' });
    expect((await get(own, METRICS_TOKEN)).status).toBe(200);
    expect(await get(`${gw.url}/metrics`, METRICS_TOKEN)).toMatchObject({ status: 404, code: 'NotFound' });
  });
});
