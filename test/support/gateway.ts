import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connectClient, type Socket } from 'socket.io-client';
import { createApp, type App } from '../../src/app.js';
import type { Role } from '../../src/auth/principal.js';
import { mintToken } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config/load.js';
import type { Clock } from '../../src/lib/clock.js';
import type { MediaEngine } from '../../src/media/engine.js';
import { createLogger } from '../../src/observability/logger.js';
import { databaseEnv, dropDatabaseOf } from './testDatabases.js';

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hs256!';

export interface ApiResponse {
  status: number;
  headers: Headers;
  // Tests read fields of JSON bodies freely.
  body: any;
}

export interface TestGateway {
  app: App;
  url: string;
  dataDir: string;
  token(sub: string, role?: Role, extra?: { join?: string[]; ttlSeconds?: number; secret?: string }): Promise<string>;
  /** An application token, minted once. */
  appToken: string;
  api(method: string, path: string, options?: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> }): Promise<ApiResponse>;
  /** A socket.io client on the client namespace, or on `namespace` (e.g. '/operator'). */
  connect(token: string, options?: { auth?: Record<string, unknown>; namespace?: string }): Promise<Socket>;
  close(): Promise<void>;
}

const sockets = new Set<Socket>();

export interface GatewayOptions {
  env?: Record<string, string>;
  clock?: Clock;
  /** Kept after close; give the same one (and `port`) to restart a gateway on its data. */
  dataDir?: string;
  media?: boolean;
  /** The media engine to run legs on (e.g. test/support/fakeEngine.ts); takes the place of `media`. */
  engine?: MediaEngine;
  /** No LEGWAY_SECRET: the gateway generates its development secret in the data folder. */
  devSecret?: boolean;
  /** LEGWAY_DEV_LOGIN=true: `POST /dev/login` mints user tokens for loopback peers (off by default, as in production). */
  devLogin?: boolean;
  /** LEGWAY_HTTP_PORT; 0 (any free port) by default. */
  port?: number;
  /** Runs after the gateway is built and before it listens: what it does, no client can see live. */
  beforeListen?: (app: App) => void | Promise<void>;
}

/** Starts a real gateway on 127.0.0.1, port 0, with a fresh data folder (kept when `dataDir` is given). */
export async function startGateway(options: GatewayOptions = {}): Promise<TestGateway> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'legway-test-'));
  const config = loadConfig({
    env: {
      LEGWAY_HOST: '127.0.0.1',
      LEGWAY_HTTP_PORT: String(options.port ?? 0),
      LEGWAY_DATA_DIR: dataDir,
      ...(!options.devSecret && { LEGWAY_SECRET: TEST_SECRET }),
      ...(options.devLogin && { LEGWAY_DEV_LOGIN: 'true' }),
      LEGWAY_LOG_LEVEL: 'silent',
      LEGWAY_SQLITE_SYNCHRONOUS: 'normal',
      LEGWAY_RTC_LISTEN_IP: '127.0.0.1',
      LEGWAY_MEDIA_WORKERS: '1',
      // SIP only for the tests that ask for it (LEGWAY_SIP_ENABLED: 'true'), on loopback, any port.
      LEGWAY_SIP_ENABLED: 'false',
      LEGWAY_SIP_HOST: '127.0.0.1',
      LEGWAY_SIP_PORT: '0',
      // The test's own clients, phones and peers run on this thread too: its load is not the
      // gateway's, so admission by load stays off (test/integration/admission.test.ts sets limits).
      LEGWAY_ADMISSION_MAX_LOAD: '1',
      // Under `npm run test:pg`: this data folder's own database on that server.
      ...databaseEnv(dataDir),
      ...options.env,
    },
    cwd: dataDir,
  });
  // Media (mediasoup workers) only for the tests that need it: the control-plane tests stay light.
  // A given engine (a fake) is used as it is.
  const app = await createApp(config, {
    logger: createLogger(config.logLevel),
    ...(options.clock && { clock: options.clock }),
    ...(options.engine ? { engine: options.engine } : !options.media && { engine: null }),
  });
  await options.beforeListen?.(app);
  const port = await app.listen();
  const url = `http://127.0.0.1:${port}`;
  const token: TestGateway['token'] = (sub, role = 'user', extra = {}) =>
    mintToken(extra.secret ?? config.secret, {
      sub,
      role,
      ttlSeconds: extra.ttlSeconds ?? 3600,
      applicationId: config.applicationId,
      ...(extra.join && { join: extra.join }),
    });
  const appToken = await token('backend', 'application');
  const own = new Set<Socket>();

  return {
    app,
    url,
    dataDir,
    token,
    appToken,
    async api(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      const bearer = opts.token === undefined ? appToken : opts.token;
      if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
      let body: string | undefined = opts.raw;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined && { body }) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text.length > 0 ? JSON.parse(text) : undefined;
      } catch {
        // Not JSON: the raw text is what the test sees.
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    connect(tok, opts = {}) {
      const socket = connectClient(`${url}${opts.namespace ?? ''}`, {
        auth: opts.auth ?? { token: tok },
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
      });
      own.add(socket);
      sockets.add(socket);
      return new Promise((resolve, reject) => {
        socket.once('connect', () => resolve(socket));
        socket.once('connect_error', (err) => reject(err));
      });
    },
    async close() {
      for (const s of own) s.disconnect();
      await app.close();
      if (!options.dataDir) {
        rmSync(dataDir, { recursive: true, force: true });
        dropDatabaseOf(dataDir);
      }
    },
  };
}

/** Creates a conversation named `name` as the application (REST); its id. */
export async function createConversation(g: TestGateway, name: string): Promise<string> {
  const res = await g.api('POST', '/v1/conversations', { body: { name } });
  if (res.status !== 201) throw new Error(`creating conversation ${name}: ${String(res.status)} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

/**
 * The gateway's /metrics text once every pattern matches it, or as it is after `timeoutMs` (for the
 * test's own assertions to report): a webhook receiver has its answer a moment before the gateway
 * reads it and counts the delivery.
 */
export async function metricsMatching(g: TestGateway, patterns: RegExp[], timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await (await fetch(`${g.url}/metrics`)).text();
    if (patterns.every((pattern) => pattern.test(text)) || Date.now() > deadline) return text;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A request with acknowledgement, as clients make them. */
export function request(socket: Socket, name: string, payload: unknown): Promise<any> {
  return socket.timeout(5000).emitWithAck(name, payload);
}

/** Records every event the server pushes to a socket, and lets a test wait for one. */
export class EventRecorder {
  readonly events: any[] = [];
  private waiters: { test: (e: any) => boolean; resolve: (e: any) => void }[] = [];

  constructor(socket: Socket) {
    socket.onAny((name: string, event: any) => {
      const entry = { name, ...event };
      this.events.push(entry);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(entry)) return true;
        w.resolve(entry);
        return false;
      });
    });
  }

  /** Resolves with the first pushed event (past or future) that passes `test`. */
  waitFor(test: (e: any) => boolean, timeoutMs = 5000): Promise<any> {
    const seen = this.events.find((e) => test(e));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for an event')), timeoutMs);
      this.waiters.push({
        test,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  ids(): number[] {
    return this.events.map((e) => e.id as number);
  }
}
