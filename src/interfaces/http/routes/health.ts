import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { json } from '../responses.js';

export interface Readiness {
  /** Reasons the gateway is not ready; empty when it is. */
  problems(): string[];
}

const tags = ['health'];
// Probes carry no token.
const security: [] = [];

/** /healthz (the process answers), /readyz (it can serve: store up, not shutting down); /metrics is in metrics.ts. */
export function healthRoutes(app: FastifyInstance, readiness: Readiness): void {
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
}
