import { createApp } from '../app.js';
import { loadConfig } from '../config/load.js';
import type { ConfigKey } from '../config/schema.js';
import { createLogger } from '../observability/logger.js';

/** `legway serve`: loads configuration, starts the gateway, and shuts it down cleanly on SIGINT/SIGTERM. */
export async function serve(flags: Partial<Record<ConfigKey, string>>, file: string | undefined): Promise<number> {
  const config = loadConfig({ flags, file });
  const logger = createLogger(config.logLevel);
  if (config.secretSource !== 'config') {
    logger.warn(
      { data_dir: config.dataDir, generated: config.secretSource === 'generated' },
      'using the development secret kept in the data folder; set LEGWAY_SECRET in production',
    );
  }
  const app = await createApp(config, { logger });
  const port = await app.listen();
  logger.info({ host: config.host, port, data_dir: config.dataDir, application_id: config.applicationId }, `legway listening on ${config.host}:${port}`);

  return new Promise<number>((settle) => {
    let stopping = false;
    const resolve = (code: number): void => {
      settle(code);
      // Whatever outlived the close (a peer's half-open socket, a stray timer) must not keep a
      // stopped gateway running: if the event loop has not emptied shortly, exit anyway.
      setTimeout(() => process.exit(code), 250).unref();
    };
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        logger.error('shutdown timed out; exiting');
        resolve(1);
      }, config.shutdownTimeoutMs);
      timer.unref();
      app.close().then(
        () => {
          clearTimeout(timer);
          logger.info('stopped');
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
