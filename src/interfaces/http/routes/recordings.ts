import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { fail } from '../../../domain/errors.js';
import { ID_PATTERNS } from '../../../lib/ids.js';
import type { RecordingFile } from '../../../services/recordingService.js';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { AUTHENTICATED, embedded, json, noContent, problems, recording } from '../responses.js';
import { refusedAs } from '../schemaCompilers.js';
import { conversationParams } from '../schemas.js';

const tags = ['recordings'];

// Only a recording id's exact shape gets past the edge (the file path itself always comes from the
// store, never from the request); anything else is an id that does not exist.
const recordingParams = refusedAs(z.strictObject({ id: z.string().regex(ID_PATTERNS.recording, 'not a recording id (a UUID)') }), 'RecordingNotFound', 'path');

const audio = z.string().describe('the WAV file, whole or the requested `Range`');
const wav = { schema: audio };

/** The q-value `accept` gives `type` (`0` when absent), from exact ranges only: `*\/*` does not count as asking. */
function quality(accept: string, type: string): number {
  let q = 0;
  for (const part of accept.split(',')) {
    const [range, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (range !== type) continue;
    const qParam = params.find((p) => p.startsWith('q='));
    const value = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (Number.isFinite(value)) q = Math.max(q, value);
  }
  return q;
}

/** JSON metadata when the client asks for JSON at least as much as for the audio; the file otherwise. */
function wantsJson(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const json = quality(accept, 'application/json');
  const audio = Math.max(quality(accept, 'audio/wav'), quality(accept, 'audio/wave'), quality(accept, 'audio/x-wav'), quality(accept, 'audio/*'));
  return json > 0 && json >= audio;
}

/**
 * One `bytes=` range of RFC 9110 within `size` (inclusive ends), undefined for the whole file
 * (no header, or a form this server does not serve partially, such as several ranges).
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    // A suffix: the last N bytes.
    const suffix = Number(match[2]);
    if (suffix === 0) throw fail('RangeNotSatisfiable', 'an empty suffix range selects nothing');
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    if (match[2] !== '' && Number(match[2]) < start) return undefined; // RFC 9110: an invalid range is ignored.
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size) throw fail('RangeNotSatisfiable', `range starts past the end of the ${size}-byte file`);
  return { start, end };
}

/** Sends a recording's file, or the part of it `rangeHeader` asks for (the reply's body is a stream, not JSON). */
async function sendFile(reply: FastifyReply, id: string, file: RecordingFile, rangeHeader: string | undefined): Promise<FastifyReply> {
  let range;
  try {
    range = parseRange(rangeHeader, file.size);
  } catch (err) {
    await file.close();
    void reply.header('content-range', `bytes */${file.size}`);
    throw err;
  }
  void reply
    .header('content-type', 'audio/wav')
    .header('content-disposition', `attachment; filename="${id}.wav"`)
    .header('accept-ranges', 'bytes')
    .header('cache-control', 'private, no-cache');
  if (range) {
    return reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${file.size}`)
      .header('content-length', range.end - range.start + 1)
      .send(file.stream(range));
  }
  // An explicit end lets the stream finish with its last byte instead of one more read for EOF,
  // so the response is complete by the time the client has it all.
  return reply.header('content-length', file.size).send(file.stream(file.size > 0 ? { start: 0, end: file.size - 1 } : undefined));
}

/** /v1/recordings: metadata or audio (by `Accept`), a conversation's list, delete. */
export function recordingRoutes(app: FastifyInstance, services: Services): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/v1/recordings/:id',
    {
      schema: {
        summary: 'Download a recording (WAV; `Range` supported), or its metadata with `Accept: application/json`',
        tags,
        params: recordingParams,
        response: {
          200: { description: 'The metadata (JSON asked for) or the whole file', content: { 'application/json': { schema: recording }, 'audio/wav': wav } },
          206: { description: 'The requested range of the file', content: { 'audio/wav': wav } },
          ...problems(...AUTHENTICATED, 403, 404, 416),
        },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const p = principalOf(req);
      if (wantsJson(req.headers.accept)) return services.recordings.get(id, p);

      return sendFile(reply, id, await services.recordings.openFile(id, p), req.headers.range);
    },
  );

  r.get(
    '/v1/conversations/:id/recordings',
    {
      schema: {
        summary: "A conversation's recordings",
        tags,
        params: conversationParams,
        response: { 200: json('Every recording of the conversation', embedded('recordings', recording)), ...problems(...AUTHENTICATED, 403, 404) },
      },
    },
    async (req) => ({ _embedded: { recordings: services.recordings.list(req.params.id, principalOf(req)) } }),
  );

  r.delete(
    '/v1/recordings/:id',
    {
      schema: {
        summary: 'Delete a finished recording and its file',
        tags,
        params: recordingParams,
        response: { 204: noContent, ...problems(...AUTHENTICATED, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      await services.recordings.delete(req.params.id, principalOf(req));
      return reply.code(204).send();
    },
  );
}
