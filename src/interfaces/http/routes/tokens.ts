import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../../../domain/validation.js';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';

const revocationBody = z.strictObject({
  jti: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
});

/** /v1/tokens/revocations: the application revokes a token by its id (`jti`). */
export function tokenRoutes(app: FastifyInstance, services: Services): void {
  app.post('/v1/tokens/revocations', async (req, reply) => {
    const p = principalOf(req);
    const { jti } = parseOrThrow(revocationBody, req.body ?? {}, 'revocation');
    const { created, ...revocation } = services.tokens.revoke(jti, p);
    return reply.code(created ? 201 : 200).send(revocation);
  });
}
