import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal.js';
import type { TokenVerifier } from '../../auth/tokens.js';
import { fail } from '../../domain/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** onRequest hook: a valid `Authorization: Bearer <JWT>` or 401. */
export function bearerAuth(verifier: TokenVerifier) {
  return async (req: FastifyRequest): Promise<void> => {
    const header = req.headers.authorization;
    if (header === undefined) throw fail('Unauthorized', 'missing Authorization: Bearer <token>');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw fail('Unauthorized', 'Authorization header must be "Bearer <token>"');
    req.principal = await verifier.verify(match[1]);
  };
}

/** The request's principal (set by bearerAuth). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw fail('Unauthorized', 'not authenticated');
  return req.principal;
}
