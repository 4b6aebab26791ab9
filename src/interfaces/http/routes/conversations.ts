import type { FastifyInstance } from 'fastify';
import { parseOrThrow } from '../../../domain/validation.js';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { decodeCursor, halPage } from '../paging.js';
import { conversationParams, createConversationBody, pageQuery, updateConversationBody } from '../schemas.js';

/** /v1/conversations: create, list, get, update, delete. */
export function conversationRoutes(app: FastifyInstance, services: Services): void {
  app.post('/v1/conversations', async (req, reply) => {
    const body = parseOrThrow(createConversationBody, req.body ?? {}, 'conversation');
    const conversation = services.conversations.create(body, principalOf(req));
    return reply.code(201).header('location', `/v1/conversations/${conversation.id}`).send(conversation);
  });

  app.get('/v1/conversations', async (req) => {
    const q = parseOrThrow(pageQuery, req.query, 'query', 'BadRequest');
    const after = decodeCursor(q.cursor, q.order);
    const page = services.conversations.list({ size: q.page_size, order: q.order, ...(after !== undefined && { after }) }, principalOf(req));
    return halPage(req, 'conversations', q.page_size, q.order, page);
  });

  app.get('/v1/conversations/:id', async (req) => {
    const { id } = parseOrThrow(conversationParams, req.params, 'path', 'ConversationNotFound');
    return services.conversations.get(id, principalOf(req));
  });

  app.patch('/v1/conversations/:id', async (req) => {
    const { id } = parseOrThrow(conversationParams, req.params, 'path', 'ConversationNotFound');
    const body = parseOrThrow(updateConversationBody, req.body ?? {}, 'conversation');
    return services.conversations.update(id, body, principalOf(req));
  });

  app.delete('/v1/conversations/:id', async (req, reply) => {
    const { id } = parseOrThrow(conversationParams, req.params, 'path', 'ConversationNotFound');
    services.conversations.delete(id, principalOf(req));
    return reply.code(204).send();
  });
}
