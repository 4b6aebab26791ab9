import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { AUTHENTICATED, embedded, json, knocking, knockingAnswer, problems } from '../responses.js';
import { refusedAs } from '../schemaCompilers.js';
import { conversationParams } from '../schemas.js';

const tags = ['knockings'];
const knockingParams = refusedAs(z.strictObject({ id: z.uuid().describe('knocking id') }), 'NotFound', 'path');
const answerBody = refusedAs(z.strictObject({ action: z.enum(['admit', 'refuse']) }), 'ValidationFailed', 'knocking answer');

/** Knocks waiting at a conversation, and their answer (`PUT /v1/knockings/:id { action }`). */
export function knockingRoutes(app: FastifyInstance, services: Services): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/v1/conversations/:id/knockings',
    {
      schema: {
        summary: 'Users knocking at a conversation, waiting to be let in (operator, application)',
        tags,
        params: conversationParams,
        response: { 200: json('The pending knocks', embedded('knockings', knocking)), ...problems(...AUTHENTICATED, 403, 404) },
      },
    },
    async (req) => ({ _embedded: { knockings: services.knocking.list(principalOf(req), req.params.id) } }),
  );

  r.put(
    '/v1/knockings/:id',
    {
      schema: {
        summary: 'Admit (as a joined member) or refuse a knocking user (operator, application)',
        tags,
        params: knockingParams,
        body: answerBody,
        response: { 200: json('The answer, as the knocking client is told', knockingAnswer), ...problems(400, ...AUTHENTICATED, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (req) => {
      const p = principalOf(req);
      return services.knocking.answer(req.params.id, req.body.action === 'admit', p, p.role === 'application' ? 'application' : p.sub);
    },
  );
}
