import type { FastifyInstance } from 'fastify';
import { parseOrThrow } from '../../../domain/validation.js';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { decodeCursor, halPage } from '../paging.js';
import { conversationParams, createMemberBody, memberParams, pageQuery, updateMemberBody } from '../schemas.js';

/** /v1/conversations/:id/members: invite or join, list, get, leave. */
export function memberRoutes(app: FastifyInstance, services: Services): void {
  app.post('/v1/conversations/:id/members', async (req, reply) => {
    const { id } = parseOrThrow(conversationParams, req.params, 'path', 'ConversationNotFound');
    const body = parseOrThrow(createMemberBody, req.body ?? {}, 'member');
    const member = services.members.create(id, body, principalOf(req));
    return reply.code(201).header('location', `/v1/conversations/${id}/members/${member.id}`).send(member);
  });

  app.get('/v1/conversations/:id/members', async (req) => {
    const { id } = parseOrThrow(conversationParams, req.params, 'path', 'ConversationNotFound');
    const q = parseOrThrow(pageQuery, req.query, 'query', 'BadRequest');
    const after = decodeCursor(q.cursor, q.order);
    const page = services.members.list(id, { size: q.page_size, order: q.order, ...(after !== undefined && { after }) }, principalOf(req));
    return halPage(req, 'members', q.page_size, q.order, page);
  });

  app.get('/v1/conversations/:id/members/:member_id', async (req) => {
    const { id, member_id } = parseOrThrow(memberParams, req.params, 'path', 'MemberNotFound');
    return services.members.get(id, member_id, principalOf(req));
  });

  app.patch('/v1/conversations/:id/members/:member_id', async (req) => {
    const { id, member_id } = parseOrThrow(memberParams, req.params, 'path', 'MemberNotFound');
    const body = parseOrThrow(updateMemberBody, req.body ?? {}, 'member');
    return services.members.setState(id, member_id, body.state, principalOf(req));
  });
}
