import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import { z } from 'zod';
import type { ErrorCode } from '../../domain/errors.js';
import { parseOrThrow } from '../../domain/validation.js';

/** How a request part that fails its schema is refused: the stable code, and what the message calls it. */
export interface Refusal {
  code: ErrorCode;
  /** `invalid <what>: <path>: <message>`. */
  what: string;
}

/**
 * Refusals of particular schemas. A path id that fails its schema is an id that does not exist, so
 * it is refused as that resource's NotFound; a body names what it describes.
 */
export const refusals = z.registry<Refusal>();

/** Registers how `schema` is refused, and returns it (for use where it is declared). */
export function refusedAs<S extends z.ZodType>(schema: S, code: ErrorCode, what: string): S {
  refusals.add(schema, { code, what });
  return schema;
}

const BY_PART: Record<string, Refusal> = {
  params: { code: 'NotFound', what: 'path' },
  querystring: { code: 'BadRequest', what: 'query' },
  body: { code: 'ValidationFailed', what: 'request body' },
  headers: { code: 'BadRequest', what: 'headers' },
};

/**
 * Validates request parts with the routes' zod schemas, refusing with a LegwayError (so the one
 * error handler answers it as the problem body and code the route had when it validated by hand).
 */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  const refusal = refusals.get(schema) ?? BY_PART[httpPart ?? 'body'] ?? { code: 'BadRequest', what: 'request' };
  const isBody = httpPart === 'body';
  return (data: unknown) => {
    try {
      // An absent body (fastify passes null) is an empty one, as routes have always read it.
      return { value: parseOrThrow(schema, isBody ? (data ?? {}) : data, refusal.what, refusal.code) };
    } catch (err) {
      return { error: err as Error };
    }
  };
};

/**
 * Response schemas describe responses; they never reshape them. Bodies are sent as the handler
 * made them (what fastify does for a route without a schema), so documenting a route cannot drop
 * a field a client relies on. test/integration/openapi.test.ts checks real responses against them.
 */
export const serializerCompiler: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);
