import type { Socket } from 'node:net';
import { LegwayError, type ErrorCode } from '../../domain/errors.js';
import { toProblem } from './problem.js';

/** What Node's HTTP parser refused, in the taxonomy: a head too large, a request too slow, anything else malformed. */
function codeOf(err: NodeJS.ErrnoException): { code: ErrorCode; message: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW') return { code: 'HeadersTooLarge', message: 'the request line and headers are larger than the server takes' };
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { code: 'RequestTimeout', message: 'the request did not arrive in time' };
  return { code: 'BadRequest', message: 'malformed HTTP request' };
}

/**
 * Answers what Node's HTTP parser refuses before any route sees it (a head over its size limit, a
 * malformed request line) with a problem body like every other error, instead of fastify's own
 * JSON, then closes the connection, as Node and fastify do.
 */
export function problemClientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nothing left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const { code, message } = codeOf(err);
    const { status, body } = toProblem(new LegwayError(code, message));
    const text = JSON.stringify(body);
    socket.write(
      `HTTP/1.1 ${status} ${body.title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy(err);
}
