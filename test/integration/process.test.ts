import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { processApi, requireBuiltCli, runCli, spawnGateway, stop, type ProcessApiResponse, type RunningGateway } from '../support/process.js';
import { TEST_DATABASE_SERVER } from '../support/testDatabases.js';

/** A port that was free a moment ago (bound to 0, read, released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const SECRET = 'process-test-secret-long-enough-for-hs256';

async function api(g: RunningGateway, token: string, method: string, path: string, body?: unknown): Promise<ProcessApiResponse> {
  return processApi(g, token)(method, path, body);
}

describe('the legway command', () => {
  let dir: string;
  const running: RunningGateway[] = [];

  beforeAll(() => {
    requireBuiltCli();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-proc-'));
  });
  afterEach(async () => {
    for (const g of running.splice(0)) await stop(g, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves with nothing configured, and `legway token` in the same folder mints tokens it accepts', async () => {
    const g = await spawnGateway(dir);
    running.push(g);
    // The store is the data folder's SQLite file, unless the suite runs on PostgreSQL.
    expect(existsSync(join(dir, 'data', 'legway.sqlite'))).toBe(TEST_DATABASE_SERVER === undefined);
    expect(g.output()).toContain('development secret');

    const alice = runCli(dir, ['token', '--sub', 'alice']);
    expect(alice.status).toBe(0);
    const token = alice.stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    expect((await api(g, token, 'GET', '/v1/conversations')).status).toBe(200);

    const backend = runCli(dir, ['token', '--sub', 'backend', '--role', 'application', '--ttl', '1h']).stdout.trim();
    expect((await api(g, backend, 'POST', '/v1/conversations', { name: 'cli' })).status).toBe(201);

    // The socket accepts the same token, and refuses one minted in another folder (another secret).
    const ok = io(g.url, { auth: { token }, transports: ['websocket'], reconnection: false });
    await new Promise<void>((resolve, reject) => {
      ok.once('connect', () => resolve());
      ok.once('connect_error', reject);
    });
    ok.disconnect();
    const otherDir = mkdtempSync(join(tmpdir(), 'legway-other-'));
    const foreign = runCli(otherDir, ['token', '--sub', 'alice']).stdout.trim();
    rmSync(otherDir, { recursive: true, force: true });
    expect((await api(g, foreign, 'GET', '/v1/conversations')).status).toBe(401);
    const refused = io(g.url, { auth: { token: foreign }, transports: ['websocket'], reconnection: false });
    const err = await new Promise<Error>((resolve) => refused.once('connect_error', resolve));
    refused.disconnect();
    expect(err.message).toMatch(/signature/);
  });

  it('uses LEGWAY_HTTP_PORT, LEGWAY_DATA_DIR and LEGWAY_SECRET as the contract says', async () => {
    const dataDir = join(dir, 'state');
    const port = await freePort();
    const env = { LEGWAY_DATA_DIR: dataDir, LEGWAY_SECRET: SECRET };
    const g = await spawnGateway(dir, { ...env, LEGWAY_HTTP_PORT: String(port) });
    running.push(g);
    expect(g.port).toBe(port);
    expect(existsSync(join(dataDir, 'legway.sqlite'))).toBe(TEST_DATABASE_SERVER === undefined);
    expect(existsSync(join(dataDir, 'secret'))).toBe(false);
    expect(g.output()).not.toContain('development secret');
    const token = runCli(dir, ['token', '--sub', 'alice'], env).stdout.trim();
    expect((await api(g, token, 'GET', '/v1/conversations')).status).toBe(200);
    // A token from the generated secret of another data dir is refused.
    const other = runCli(dir, ['token', '--sub', 'alice']).stdout.trim();
    expect((await api(g, other, 'GET', '/v1/conversations')).status).toBe(401);
  });

  it('refuses to start in production without LEGWAY_SECRET, saying why', () => {
    const r = runCli(dir, ['serve'], { NODE_ENV: 'production', LEGWAY_HTTP_PORT: '0' });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain('LEGWAY_SECRET is required when NODE_ENV=production');
  });

  it('rejects bad command lines with a clear message', () => {
    expect(runCli(dir, ['token']).stderr).toContain('--sub NAME is required');
    expect(runCli(dir, ['token', '--sub', 'a', '--role', 'root']).stderr).toContain('--role must be one of');
    expect(runCli(dir, ['token', '--sub', 'a', '--ttl', 'forever']).stderr).toContain('--ttl must be a duration');
    expect(runCli(dir, ['serve', '--no-such-flag']).status).toBe(2);
    expect(runCli(dir, ['serve', '--http-port', 'abc']).stderr).toContain('LEGWAY_HTTP_PORT');
  });

  it('keeps every acknowledged event across kill -9, and ids continue without gaps', async () => {
    const env = { LEGWAY_SECRET: SECRET };
    const token = runCli(dir, ['token', '--sub', 'backend', '--role', 'application'], env).stdout.trim();
    const first = await spawnGateway(dir, env);
    running.push(first);
    const cid = (await api(first, token, 'POST', '/v1/conversations', { name: 'durable' })).body.id;
    const member = (await api(first, token, 'POST', `/v1/conversations/${cid}/members`, { user: { name: 'bob' }, state: 'joined' })).body.id;

    // Acknowledged writes, concurrently, then SIGKILL the moment the last ack arrives.
    const acked = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        api(first, token, 'POST', `/v1/conversations/${cid}/events`, { type: 'text', from: member, body: { text: `t${i}` } }),
      ),
    );
    expect(acked.every((r) => r.status === 201)).toBe(true);
    await stop(first, 'SIGKILL');

    const second = await spawnGateway(dir, env);
    running.push(second);
    const listed = await api(second, token, 'GET', `/v1/conversations/${cid}/events?page_size=100`);
    const ids = listed.body._embedded.events.map((e: any) => e.id);
    expect(ids).toHaveLength(2 + acked.length);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
    const texts = new Set(listed.body._embedded.events.filter((e: any) => e.type === 'text').map((e: any) => e.body.text));
    for (const r of acked) expect(texts.has(r.body.body.text)).toBe(true);

    const next = await api(second, token, 'POST', `/v1/conversations/${cid}/events`, { type: 'text', from: member, body: { text: 'after restart' } });
    expect(next.body.id).toBe(ids.length + 1);
  });
});
