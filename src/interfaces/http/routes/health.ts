import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Metrics } from '../../../observability/metrics.js';
import { json } from '../responses.js';

export interface Readiness {
  /** Reasons the gateway is not ready; empty when it is. */
  problems(): string[];
}

const tags = ['health'];
// Probes and scrapers carry no token.
const security: [] = [];

/** /healthz (the process answers), /readyz (it can serve: store up, not shutting down), /metrics. */
export function healthRoutes(app: FastifyInstance, readiness: Readiness, metrics: Metrics): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/healthz',
    { schema: { summary: 'The process answers', tags, security, response: { 200: json('Alive', z.strictObject({ status: z.literal('ok') })) } } },
    async () => ({ status: 'ok' as const }),
  );

  r.get(
    '/readyz',
    {
      schema: {
        summary: 'The gateway can serve: store up, not shutting down',
        tags,
        security,
        response: {
          200: json('Ready', z.strictObject({ status: z.literal('ready') })),
          503: json('Not ready, and why', z.strictObject({ status: z.literal('unavailable'), problems: z.array(z.string()) })),
        },
      },
    },
    async (_req, reply) => {
      const problems = readiness.problems();
      if (problems.length > 0) return reply.code(503).send({ status: 'unavailable' as const, problems });
      return { status: 'ready' as const };
    },
  );

  r.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags,
        security,
        response: { 200: { description: 'The Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
      },
    },
    async (_req, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
}
