import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { AUTHENTICATED, json, problems } from '../responses.js';
import { refusedAs } from '../schemaCompilers.js';

const revocationBody = refusedAs(
  z.strictObject({
    jti: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
      .describe("the revoked token's id (its jti claim)"),
  }),
  'ValidationFailed',
  'revocation',
);

const revocation = z.strictObject({
  jti: z.string(),
  revoked_at: z.iso.datetime().describe('when the token was first revoked'),
});

/** /v1/tokens/revocations: the application revokes a token by its id (`jti`). */
export function tokenRoutes(app: FastifyInstance, services: Services): void {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/tokens/revocations',
    {
      schema: {
        summary: 'Revoke a token by its id: refused everywhere from now on, open sockets included (application)',
        tags: ['tokens'],
        body: revocationBody,
        response: {
          201: json('Revoked now', revocation),
          200: json('Revoked already', revocation),
          ...problems(...AUTHENTICATED, 403, 413, 415, 422),
        },
      },
    },
    async (req, reply) => {
      const { created, ...revoked } = services.tokens.revoke(req.body.jti, principalOf(req));
      return reply.code(created ? 201 : 200).send(revoked);
    },
  );
}
