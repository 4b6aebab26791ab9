import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { LegwayError } from '../../domain/errors.js';
import type { Metrics } from '../../observability/metrics.js';
import { fromFrameworkError, sendProblem } from './problem.js';
import { metricsRoutes } from './routes/metrics.js';

/** The `/metrics` listener of its own (`LEGWAY_METRICS_LISTEN`): its bound port and an idempotent close. */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves only GET /metrics on `host:port`, with the scrapers' token when one is configured. */
export async function startMetricsServer(options: {
  host: string;
  port: number;
  token: string | undefined;
  metrics: Metrics;
  logger: Logger;
}): Promise<MetricsServer> {
  const app = Fastify({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: options.logger.child({ component: 'metrics' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // A scrape sends no body; nothing bigger is worth reading.
    bodyLimit: 1024,
    return503OnClosing: true,
  });
  app.setErrorHandler((err, req, reply) => {
    const error = fromFrameworkError(err);
    if (error.code === 'Internal') req.log.error({ err }, 'metrics request failed');
    return sendProblem(reply, error);
  });
  app.setNotFoundHandler((_req, reply) => sendProblem(reply, new LegwayError('NotFound', 'this listener serves GET /metrics only')));
  metricsRoutes(app, options.metrics, options.token === undefined ? { kind: 'listener' } : { kind: 'token', token: options.token });
  await app.listen({ host: options.host, port: options.port });
  const port = (app.server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    port,
    close: () => (closed ??= app.close()),
  };
}
