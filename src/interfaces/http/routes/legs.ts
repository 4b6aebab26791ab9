import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../../../domain/validation.js';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { conversationParams } from '../schemas.js';

const legParams = z.strictObject({ id: z.string().min(1).max(200) });

const legActionBody = z.discriminatedUnion('action', [
  z.strictObject({ action: z.enum(['mute', 'unmute', 'earmuff', 'unearmuff', 'video-mute', 'video-unmute', 'hangup']) }),
  /** Moves the leg to another conversation (id or name). */
  z.strictObject({ action: z.literal('transfer'), conversation_id: z.string().min(1).max(200) }),
]);

/** /v1/legs: read legs and act on them (`PUT /v1/legs/:id { action }`, as Vonage's call actions). */
export function legRoutes(app: FastifyInstance, services: Services): void {
  app.get('/v1/legs/:id', async (req) => {
    const { id } = parseOrThrow(legParams, req.params, 'path', 'LegNotFound');
    return services.legs.get(id, principalOf(req));
  });

  app.get('/v1/conversations/:id/legs', async (req) => {
    const { id } = parseOrThrow(conversationParams, req.params, 'path', 'ConversationNotFound');
    return { _embedded: { legs: services.legs.list(id, principalOf(req)) } };
  });

  app.put('/v1/legs/:id', async (req) => {
    const { id } = parseOrThrow(legParams, req.params, 'path', 'LegNotFound');
    const body = parseOrThrow(legActionBody, req.body ?? {}, 'leg action');
    const p = principalOf(req);
    const initiator = p.role === 'application' ? 'application' : p.sub;
    if (body.action === 'transfer') return services.transfers.transfer(id, body.conversation_id, p, initiator);
    return services.legs.act(id, body.action, p, initiator);
  });
}
