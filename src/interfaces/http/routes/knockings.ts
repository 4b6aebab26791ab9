import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../../../domain/validation.js';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { conversationParams } from '../schemas.js';

const knockingParams = z.strictObject({ id: z.uuid() });
const answerBody = z.strictObject({ action: z.enum(['admit', 'refuse']) });

/** Knocks waiting at a conversation, and their answer (`PUT /v1/knockings/:id { action }`). */
export function knockingRoutes(app: FastifyInstance, services: Services): void {
  app.get('/v1/conversations/:id/knockings', async (req) => {
    const { id } = parseOrThrow(conversationParams, req.params, 'path', 'ConversationNotFound');
    return { _embedded: { knockings: services.knocking.list(principalOf(req), id) } };
  });

  app.put('/v1/knockings/:id', async (req) => {
    const { id } = parseOrThrow(knockingParams, req.params, 'path', 'NotFound');
    const { action } = parseOrThrow(answerBody, req.body ?? {}, 'knocking answer');
    const p = principalOf(req);
    return services.knocking.answer(id, action === 'admit', p, p.role === 'application' ? 'application' : p.sub);
  });
}
