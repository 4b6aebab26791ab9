/**
 * How `legway serve` stops on SIGTERM, seen from outside the real process: cleanly (status 0) when
 * nothing holds it up, and — when something does — with status 1 and a log line once
 * LEGWAY_SHUTDOWN_TIMEOUT_MS has passed, instead of whenever the thing holding it lets go.
 */
import { connect, type Socket as NetSocket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { processApi, requireBuiltCli, runCli, spawnGateway, stop, type RunningGateway } from '../support/process.js';

const SECRET = 'process-shutdown-secret-long-enough-for-hs256';
const ENV = { LEGWAY_SECRET: SECRET, LEGWAY_SIP_ENABLED: 'false', LEGWAY_MEDIA_WORKERS: '1', LEGWAY_SHUTDOWN_TIMEOUT_MS: '1000' };

/** Resolves with the exit status once the process is gone (the caller's test timeout bounds the wait). */
function exited(g: RunningGateway): Promise<number | null> {
  if (g.child.exitCode !== null || g.child.signalCode !== null) return Promise.resolve(g.child.exitCode);
  return new Promise((resolve) => g.child.once('exit', (code) => resolve(code)));
}

/** Pino lines the process wrote with message `msg`. */
function logged(g: RunningGateway, msg: string): Record<string, unknown>[] {
  return g
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.msg === msg);
}

describe('stopping `legway serve`', () => {
  let dir: string;
  const running: RunningGateway[] = [];
  const held: NetSocket[] = [];
  const clients: Socket[] = [];

  beforeAll(() => {
    requireBuiltCli();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-stop-'));
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    for (const s of held.splice(0)) s.destroy();
    for (const g of running.splice(0)) await stop(g, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('held up past LEGWAY_SHUTDOWN_TIMEOUT_MS by a request still being sent, exits with status 1 and says so; the next start serves', async () => {
    const token = runCli(dir, ['token', '--sub', 'backend', '--role', 'application'], ENV).stdout.trim();
    const g = await spawnGateway(dir, ENV);
    running.push(g);
    // A request whose body never finishes arriving: closing the HTTP server waits for it (Node gives
    // up on it only after its requestTimeout, 300 s), so the graceful stop cannot complete.
    const slow = connect(g.port, '127.0.0.1');
    held.push(slow);
    await new Promise<void>((resolve, reject) => slow.once('connect', resolve).once('error', reject));
    // Expect: 100-continue makes the server say when it has read the headers: from then on the
    // request is in flight, not an idle connection a closing server may drop.
    const continued = new Promise<void>((resolve) => slow.on('data', (chunk: Buffer) => chunk.toString().startsWith('HTTP/1.1 100') && resolve()));
    slow.write(
      `POST /v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n',
    );
    await continued;
    slow.write('{"name":');

    g.child.kill('SIGTERM');
    expect(await exited(g)).toBe(1);
    expect(logged(g, 'shutdown timed out; exiting')).toEqual([expect.objectContaining({ level: 50, timeout_ms: 1000 })]);
    expect(logged(g, 'stopped')).toEqual([]);

    // The folder's lock went with the process.
    const next = await spawnGateway(dir, ENV);
    running.push(next);
    expect((await processApi(next, token)('GET', '/v1/conversations')).status).toBe(200);
  });

  it('with socket clients connected and idle keep-alive connections, stops cleanly: status 0, "stopped" logged, clients disconnected', async () => {
    const token = runCli(dir, ['token', '--sub', 'alice'], ENV).stdout.trim();
    const g = await spawnGateway(dir, ENV);
    running.push(g);
    const sockets = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<Socket>((resolve, reject) => {
            const s = io(g.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
            clients.push(s);
            s.once('connect', () => resolve(s));
            s.once('connect_error', reject);
          }),
      ),
    );
    const disconnected = sockets.map((s) => new Promise<void>((resolve) => s.once('disconnect', () => resolve())));
    // An idle keep-alive HTTP connection (fetch keeps its connection open after the answer).
    expect((await fetch(`${g.url}/healthz`)).status).toBe(200);

    g.child.kill('SIGTERM');
    expect(await exited(g)).toBe(0);
    await Promise.all(disconnected);
    expect(logged(g, 'stopped')).toHaveLength(1);
    expect(logged(g, 'shutdown timed out; exiting')).toEqual([]);
  });
});
