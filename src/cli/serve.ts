import { createApp, type App } from '../app.js';
import { loadConfig } from '../config/load.js';
import type { ConfigKey } from '../config/schema.js';
import { createLogger } from '../observability/logger.js';
import { DataDirInUse, DataDirLock } from '../store/dataDirLock.js';
import { describeDatabaseUrl } from '../config/databaseUrl.js';

/** Exit status when the data folder is held by another gateway (sysexits EX_TEMPFAIL: it frees when that one stops). */
export const EXIT_DATA_DIR_IN_USE = 75;
/** Exit status of a stop that did not finish in `LEGWAY_SHUTDOWN_TIMEOUT_MS`, or failed. */
export const EXIT_UNCLEAN_STOP = 1;

/** `legway serve`: loads configuration, locks the data folder, starts the gateway, and stops it on SIGINT/SIGTERM. */
export async function serve(flags: Partial<Record<ConfigKey, string>>, file: string | undefined): Promise<number> {
  const config = loadConfig({ flags, file });
  const logger = createLogger(config.logLevel);
  // Before the store is opened or anything else in the folder is read or written: a second gateway
  // on the same folder would otherwise take the first one's live legs for a crash's and end them.
  let lock: DataDirLock;
  try {
    lock = DataDirLock.acquire(config.dataDir);
  } catch (err) {
    if (!(err instanceof DataDirInUse)) throw err;
    logger.fatal({ code: err.code, data_dir: config.dataDir }, 'data folder in use by another legway process; not starting');
    process.stderr.write(`legway: ${err.message}\n`);
    return EXIT_DATA_DIR_IN_USE;
  }
  if (config.secretSource !== 'config') {
    logger.warn(
      { data_dir: config.dataDir, generated: config.secretSource === 'generated' },
      'using the development secret kept in the data folder; set LEGWAY_SECRET in production',
    );
  }
  let app: App;
  let port: number;
  try {
    app = await createApp(config, { logger });
    port = await app.listen();
  } catch (err) {
    lock.release();
    throw err;
  }
  const database = config.databaseUrl === undefined ? 'sqlite' : describeDatabaseUrl(config.databaseUrl);
  logger.info(
    { host: config.host, port, data_dir: config.dataDir, database, application_id: config.applicationId },
    `legway listening on ${config.host}:${port}`,
  );
  if (config.metrics.listen && app.metricsPort !== undefined) {
    logger.info({ host: config.metrics.listen.host, port: app.metricsPort }, `metrics on ${config.metrics.listen.host}:${app.metricsPort}`);
  }

  return new Promise<number>((settle) => {
    let stopping = false;
    const finish = (code: number): void => {
      settle(code);
      // Whatever outlived the close (a peer's half-open socket, a stray timer) must not keep a
      // stopped gateway running: if the event loop has not emptied shortly, exit anyway.
      setTimeout(() => process.exit(code), 250).unref();
    };
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, timeout_ms: config.shutdownTimeoutMs }, 'shutting down');
      // Left referenced on purpose: the deadline must hold even when what holds the close up keeps
      // nothing open itself (an unref'd timer would then let the process drift out with status 0).
      const deadline = setTimeout(() => {
        logger.error({ timeout_ms: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
        process.exit(EXIT_UNCLEAN_STOP);
      }, config.shutdownTimeoutMs);
      app.close().then(
        () => {
          clearTimeout(deadline);
          lock.release();
          // A stop the gateway asked for itself (a failed store commit) set a failing status first,
          // which the clean close must not turn into a success.
          const code = typeof process.exitCode === 'number' && process.exitCode !== 0 ? EXIT_UNCLEAN_STOP : 0;
          logger.info({ status: code }, 'stopped');
          finish(code);
        },
        (err: unknown) => {
          clearTimeout(deadline);
          logger.error({ err }, 'shutdown failed');
          finish(EXIT_UNCLEAN_STOP);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
