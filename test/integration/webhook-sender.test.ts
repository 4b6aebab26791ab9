import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { WebhookSender, type Outcome } from '../../src/webhooks/sender.js';
import { WebhookSenderThread } from '../../src/webhooks/senderThread.js';

/** A real HTTP receiver on 127.0.0.1:0 whose answer to each request is up to `handle`. */
async function receiver(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events` };
}

/** Receivers a test started, closed after it. */
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A receiver that takes requests and never answers; `requested` settles when the first arrives. */
async function silentReceiver(): Promise<{ url: string; requested: Promise<void> }> {
  let arrived!: () => void;
  const requested = new Promise<void>((resolve) => (arrived = resolve));
  const { server, url } = await receiver(() => arrived());
  servers.push(server);
  return { url, requested };
}

describe('webhook sender', () => {
  it('posts the exact payload with the token, and reads a 2xx as delivered and a 503 with its Retry-After', async () => {
    const seen: { body: string; authorization: string | undefined }[] = [];
    let status = 204;
    const { server, url } = await receiver((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ body, authorization: req.headers.authorization });
        res.writeHead(status, status === 503 ? { 'retry-after': '7' } : {}).end();
      });
    });
    servers.push(server);
    const sender = new WebhookSender(url, { timeoutMs: 5000, connections: 2 });
    expect(await sender.send('{"id":1}', 'tok')).toEqual({ ok: true, status: 204 });
    status = 503;
    expect(await sender.send('{"id":2}', 'tok')).toEqual({ ok: false, status: 503, error: 'HTTP 503', retryAfter: '7' });
    expect(seen).toEqual([
      { body: '{"id":1}', authorization: 'Bearer tok' },
      { body: '{"id":2}', authorization: 'Bearer tok' },
    ]);
    await sender.abortAll();
  });

  it('gives up on a receiver that takes the request and never answers, after the time limit', async () => {
    const { server, url } = await receiver(() => undefined);
    servers.push(server);
    const sender = new WebhookSender(url, { timeoutMs: 300, connections: 1 });
    expect(await sender.send('{"id":1}', 'tok')).toEqual({ ok: false, status: null, error: 'no answer within 300 ms' });
    await sender.abortAll();
  });

  it('reads and drops a large answer body, so the next attempts reuse the one connection', async () => {
    const connections = new Set<unknown>();
    const { server, url } = await receiver((req, res) => {
      connections.add(req.socket);
      req.resume();
      req.on('end', () => res.writeHead(req.headers['content-length'] === '8' ? 200 : 500, { 'content-type': 'text/plain' }).end('x'.repeat(256 * 1024)));
    });
    servers.push(server);
    const sender = new WebhookSender(url, { timeoutMs: 5000, connections: 1 });
    for (let i = 0; i < 5; i++) expect(await sender.send('{"id":1}', 'tok')).toEqual({ ok: true, status: 200 });
    expect(await sender.send('{"id":10}', 'tok')).toEqual({ ok: false, status: 500, error: 'HTTP 500' });
    expect(connections.size).toBe(1);
    await sender.abortAll();
  });

  it('gives up on an answer whose body stops coming, after the time limit, even though its status was 2xx', async () => {
    const { server, url } = await receiver((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-length': '100' });
        res.write('only part of it');
      });
    });
    servers.push(server);
    const sender = new WebhookSender(url, { timeoutMs: 300, connections: 1 });
    expect(await sender.send('{"id":1}', 'tok')).toEqual({ ok: false, status: null, error: 'no answer within 300 ms' });
    await sender.abortAll();
  });

  it('fails an attempt to a port where nothing listens, with the reason', async () => {
    const { server, url } = await receiver(() => undefined);
    await new Promise((resolve) => server.close(resolve));
    const sender = new WebhookSender(url, { timeoutMs: 5000, connections: 1 });
    const outcome = await sender.send('{"id":1}', 'tok');
    expect(outcome).toMatchObject({ ok: false, status: null });
    if (outcome.ok) return;
    expect(outcome.error).toMatch(/ECONNREFUSED/);
    await sender.abortAll();
  });

  it('abortAll() fails an attempt in flight at once, long before its time limit, and not as a timeout', async () => {
    const { url, requested } = await silentReceiver();
    const sender = new WebhookSender(url, { timeoutMs: 600_000, connections: 1 });
    const attempt = sender.send('{"id":1}', 'tok');
    await requested;
    await sender.abortAll();
    const outcome = await attempt;
    if (outcome.ok) throw new Error('the attempt succeeded after abortAll()');
    expect(outcome.status).toBeNull();
    expect(outcome.error).not.toMatch(/no answer within/);
  });
});

describe('webhook sender thread', () => {
  const SECRET = 'sender-thread-test-secret-long-enough!!';

  it('signs each attempt on its thread on the clock given, sends a lane in order while it is accepted, and stops at the first refusal', async () => {
    const seen: { body: string; authorization: string }[] = [];
    const { server, url } = await receiver((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ body, authorization: req.headers.authorization ?? '' });
        res.writeHead(body.includes('"refuse"') ? 400 : 200).end();
      });
    });
    servers.push(server);
    const thread = new WebhookSenderThread({ url, timeoutMs: 5000, connections: 4, secret: SECRET, applicationId: 'app' }, createLogger('silent'));
    // The dispatcher's clock is a day behind the thread's.
    const offset = -86_400_000;
    const lane = ['{"id":1,"text":"héllo ✓"}', '{"id":2}', '{"id":3,"refuse":true}', '{"id":4}'];
    const outcomes: [number, Outcome][] = [];
    const started = Date.now();
    await thread.sendInOrder(lane, offset, (index, outcome) => outcomes.push([index, outcome]));
    expect(outcomes).toEqual([
      [0, { ok: true, status: 200 }],
      [1, { ok: true, status: 200 }],
      [2, { ok: false, status: 400, error: 'HTTP 400' }],
    ]);
    // In order, and nothing after the refusal.
    expect(seen.map((s) => s.body)).toEqual(lane.slice(0, 3));
    for (const { body, authorization } of seen) {
      const token = authorization.replace(/^Bearer /, '');
      const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET), { currentDate: new Date(started + offset) });
      expect(payload).toMatchObject({ application_id: 'app', payload_hash: createHash('sha256').update(body, 'utf8').digest('hex') });
      expect(Math.abs((payload.iat ?? 0) - (started + offset) / 1000)).toBeLessThan(60);
    }
    await thread.abortAll();
  });

  it('abortAll() fails the attempts in flight, stops the thread, and refuses attempts after it', async () => {
    const { url, requested } = await silentReceiver();
    const thread = new WebhookSenderThread({ url, timeoutMs: 600_000, connections: 1, secret: SECRET, applicationId: 'app' }, createLogger('silent'));
    const outcomes: Outcome[] = [];
    const lane = thread.sendInOrder(['{"id":1}', '{"id":2}'], 0, (_, outcome) => outcomes.push(outcome));
    await requested;
    await thread.abortAll();
    await lane;
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]?.ok).toBe(false);
    const after: Outcome[] = [];
    await thread.sendInOrder(['{"id":3}'], 0, (_, outcome) => after.push(outcome));
    expect(after).toEqual([{ ok: false, status: null, error: 'the gateway is shutting down' }]);
  });
});
