import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { TokenVerifier } from '../../auth/tokens.js';
import { LegwayError } from '../../domain/errors.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Services } from '../../services/services.js';
import { bearerAuth } from './auth.js';
import { problemClientErrorHandler } from './clientError.js';
import { registerContract } from './contract.js';
import { fromFrameworkError, sendProblem } from './problem.js';
import { conversationRoutes } from './routes/conversations.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes, type Readiness } from './routes/health.js';
import { metricsRoutes, metricsSchema, type MetricsAccess } from './routes/metrics.js';
import { legRoutes } from './routes/legs.js';
import { memberRoutes } from './routes/members.js';
import { recordingRoutes } from './routes/recordings.js';
import { playbackRoutes } from './routes/playback.js';
import { knockingRoutes } from './routes/knockings.js';
import { callRoutes } from './routes/calls.js';
import { webhookRoutes } from './routes/webhooks.js';
import { tokenRoutes } from './routes/tokens.js';
import { devLoginRoutes, type DevLogin } from './routes/devLogin.js';
import { findWebRoot, webRoutes } from './routes/web.js';

export interface HttpDeps {
  logger: Logger;
  services: Services;
  verifier: TokenVerifier;
  metrics: Metrics;
  readiness: Readiness;
  /** Who may read /metrics on this server; undefined when it is served on a listener of its own. */
  metricsAccess: MetricsAccess | undefined;
  bodyLimit: number;
  /** REST requests per minute per token. */
  restRateLimit: number;
  /** The development login's secret, only while `LEGWAY_DEV_LOGIN` is on. */
  devLogin: DevLogin | undefined;
}

/** Builds the HTTP interface (REST /v1, health, metrics, web pages, dev login); socket.io attaches to its server. */
export async function buildHttp(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Typed as fastify's base logger so the instance keeps fastify's default generics.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit,
    // Ids and query strings are bounded; refuse absurd URLs early.
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // What Node's parser refuses (a head over its limit: 431) gets a problem body too.
    clientErrorHandler: problemClientErrorHandler,
    // URLs the router refuses before routing (bad percent-encoding, a path segment over maxParamLength)
    // get a problem body too, instead of fastify's own JSON that echoes the whole path.
    frameworkErrors: (err, _req, reply) => {
      const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is longer than 200 characters' : 'malformed URL';
      void sendProblem(reply, new LegwayError('BadRequest', message));
    },
  });

  // First: the routes' zod schemas validate requests and make /openapi.json (contract.ts).
  await registerContract(app);

  // JSON only: everything else is 415 (fastify would otherwise accept text/plain).
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err, req, reply) => {
    const error = fromFrameworkError(err);
    // Only fastify's own 413/415 are about the request body; the services' (a media file too large,
    // not a WAV) keep their own message.
    const aboutBody = !(err instanceof LegwayError);
    if (error.code === 'Internal') req.log.error({ err }, 'request failed');
    else if (aboutBody && error.code === 'PayloadTooLarge') error.message = `request body is larger than ${deps.bodyLimit} bytes`;
    else if (aboutBody && error.code === 'UnsupportedMediaType') error.message = 'send JSON with Content-Type: application/json';
    return sendProblem(reply, error);
  });

  app.setNotFoundHandler((req, reply) => {
    return sendProblem(reply, new LegwayError('NotFound', `no route for ${req.method} ${req.url.split('?')[0] ?? ''}`));
  });

  // Group commit: what a request wrote is durable (and its events pushed) before it is answered.
  app.addHook('onSend', async (_req, _reply, payload) => {
    await deps.services.events.durable();
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    deps.metrics.httpDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  healthRoutes(app, deps.readiness);
  if (deps.metricsAccess) metricsRoutes(app, deps.metrics, deps.metricsAccess, metricsSchema);
  // Outside /v1: a browser loads the pages, and logs in for development, before it holds a token.
  await app.register(webRoutes, { root: findWebRoot() });
  await app.register(devLoginRoutes, { login: deps.devLogin, services: deps.services });

  await app.register(async (v1) => {
    v1.addHook('onRequest', bearerAuth(deps.verifier));
    await v1.register(rateLimit, {
      // Before schema validation, so a limited client is told so whatever it sends.
      hook: 'preValidation',
      max: deps.restRateLimit,
      timeWindow: 60_000,
      keyGenerator: (req) => (req.principal ? `${req.principal.role}:${req.principal.sub}` : req.ip),
      errorResponseBuilder: (_req, ctx) => new LegwayError('RateLimited', `rate limit of ${ctx.max} requests per minute exceeded; retry in ${ctx.after}`),
    });
    conversationRoutes(v1, deps.services);
    memberRoutes(v1, deps.services);
    eventRoutes(v1, deps.services);
    webhookRoutes(v1, deps.services);
    legRoutes(v1, deps.services);
    recordingRoutes(v1, deps.services);
    playbackRoutes(v1, deps.services);
    knockingRoutes(v1, deps.services);
    callRoutes(v1, deps.services);
    tokenRoutes(v1, deps.services);
  });

  return app;
}
