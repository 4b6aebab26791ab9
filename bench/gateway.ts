import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { App, createApp as CreateApp } from '../src/app.js';
import type { Principal, Role } from '../src/auth/principal.js';
import { mintToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import type { MediaEngine } from '../src/media/engine.js';
import { createLogger } from '../src/observability/logger.js';
import { importBuilt } from './built.js';

const SECRET = 'bench-secret-that-is-long-enough-for-hs256!!';

/** The application principal, for calling services directly as the backend would over REST. */
export const APPLICATION: Principal = { role: 'application', sub: 'bench-backend', join: [] };

export interface BenchGateway {
  app: App;
  config: Config;
  url: string;
  port: number;
  /** Mints a token for `sub` (an hour long). */
  token(sub: string, role?: Role): Promise<string>;
  /** Closes the gateway and deletes its data dir. */
  close(): Promise<void>;
}

export interface BenchGatewayOptions {
  /** The gateway's logger (silent by default). */
  logger?: Logger;
  /** Makes the media engine from the configuration (the default engine when absent). */
  engine?: (config: Config, logger: Logger) => Promise<MediaEngine>;
  /** Runs with the configuration before the gateway is made (to watch what it starts, e.g. mediasoup's observer). */
  beforeCreate?: (config: Config) => Promise<void>;
  /**
   * Runs the TypeScript sources (through tsx) instead of the build (`built.ts`): for the fuzzer, whose
   * test doubles are made from the sources. An engine given in `engine` must come from the same.
   */
  sources?: boolean;
}

/** `createApp` of the build, or of the sources. */
async function appFactory(sources: boolean): Promise<typeof CreateApp> {
  if (sources) return (await import('../src/app.js')).createApp;
  return (await importBuilt<{ createApp: typeof CreateApp }>('src/app.js')).createApp;
}

/** Starts a real gateway (the build, unless `options.sources`) in this process on 127.0.0.1, port 0, with a fresh temp data dir. */
export async function startBenchGateway(env: Record<string, string> = {}, options: BenchGatewayOptions = {}): Promise<BenchGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'legway-bench-'));
  try {
    const config = loadConfig({
      env: {
        LEGWAY_HOST: '127.0.0.1',
        LEGWAY_HTTP_PORT: '0',
        LEGWAY_DATA_DIR: dataDir,
        LEGWAY_SECRET: SECRET,
        LEGWAY_LOG_LEVEL: 'silent',
        // The benchmarks measure capacity; refusing work by load is what admission control is for,
        // and the load generators share this thread anyway.
        LEGWAY_ADMISSION_MAX_LOAD: '1',
        ...env,
      },
      cwd: dataDir,
    });
    const logger = options.logger ?? createLogger(config.logLevel);
    await options.beforeCreate?.(config);
    // BENCH_SOURCES=1 measures the sources instead, to compare the two.
    const createApp = await appFactory(options.sources === true || process.env['BENCH_SOURCES'] === '1');
    const app = await createApp(config, { logger, ...(options.engine && { engine: await options.engine(config, logger) }) });
    const port = await app.listen();
    return {
      app,
      config,
      port,
      url: `http://127.0.0.1:${port}`,
      token: (sub, role = 'user') => mintToken(config.secret, { sub, role, ttlSeconds: 3600, applicationId: config.applicationId }),
      async close() {
        try {
          await app.close();
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** A conversation with one joined member the application sends as. */
export function seedConversation(app: App, name: string): { conversationId: string; senderId: string } {
  const conversation = app.services.conversations.create({ name }, APPLICATION);
  const sender = app.services.members.create(conversation.id, { user: { name: 'bench-sender' }, state: 'joined' }, APPLICATION);
  return { conversationId: conversation.id, senderId: sender.id };
}
