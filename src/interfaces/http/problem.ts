import type { FastifyReply } from 'fastify';
import { ERROR_CODES, LegwayError, type ErrorCode } from '../../domain/errors.js';

/** RFC 9457 problem body with legway's stable `code`. */
export interface Problem {
  type: string;
  title: string;
  code: ErrorCode;
  detail: string;
  invalid_parameters?: unknown;
}

/** Maps a LegwayError to its HTTP status and problem body (the one mapping of the HTTP edge). */
export function toProblem(err: LegwayError): { status: number; body: Problem } {
  const body: Problem = {
    type: `urn:legway:error:${err.code}`,
    title: ERROR_CODES[err.code].title,
    code: err.code,
    detail: err.message,
  };
  if (Array.isArray(err.details)) body.invalid_parameters = err.details;
  return { status: err.status, body };
}

/** Answers the request with the error's status and problem body. */
export function sendProblem(reply: FastifyReply, err: LegwayError): FastifyReply {
  const { status, body } = toProblem(err);
  return reply.code(status).type('application/problem+json').send(body);
}

const BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
  429: 'RateLimited',
};

/** Fastify's own 4xx errors (bad JSON, body too large, wrong content type) in the taxonomy; others are Internal. */
export function fromFrameworkError(err: unknown): LegwayError {
  if (err instanceof LegwayError) return err;
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = BY_STATUS[status] ?? 'BadRequest';
    const raw = (err as { message?: unknown }).message;
    const message = code === 'BadRequest' && typeof raw === 'string' ? raw.slice(0, 300) : ERROR_CODES[code].title.toLowerCase();
    return new LegwayError(code, message);
  }
  return new LegwayError('Internal', 'internal error');
}
