import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../../../domain/validation.js';
import type { PlayTarget } from '../../../services/playbackService.js';
import type { Services } from '../../../services/services.js';
import { dtmfDigits, playParams, recordParams, sayParams } from '../../mediaSchemas.js';
import { principalOf } from '../auth.js';
import { conversationParams } from '../schemas.js';

const legParams = z.strictObject({ id: z.string().min(1).max(200) });
const streamBody = z.strictObject(playParams);
const talkBody = z.strictObject(sayParams);
const dtmfBody = z.strictObject({ digits: dtmfDigits });
const recordBody = z.strictObject(recordParams);

/**
 * Audio in calls, as Vonage's call API: `PUT`/`DELETE` `/stream` and `/talk` on a leg (only it
 * hears) or on a conversation (everyone does), `/record` of a leg's audio or the conversation's
 * mix, and `PUT /v1/legs/:id/dtmf`.
 */
export function playbackRoutes(app: FastifyInstance, services: Services): void {
  const targets = [
    { path: '/v1/legs/:id', target: (req: { params: unknown }): PlayTarget => ({ legId: parseOrThrow(legParams, req.params, 'path', 'LegNotFound').id }) },
    {
      path: '/v1/conversations/:id',
      target: (req: { params: unknown }): PlayTarget => ({ conversationId: parseOrThrow(conversationParams, req.params, 'path', 'ConversationNotFound').id }),
    },
  ];
  const uuid = (target: PlayTarget): string => ('legId' in target ? target.legId : target.conversationId);

  for (const { path, target } of targets) {
    app.put(`${path}/stream`, async (req) => {
      const where = target(req);
      const body = parseOrThrow(streamBody, req.body ?? {}, 'stream');
      const { id } = await services.playback.play(where, body, principalOf(req));
      return { message: 'Stream started', uuid: uuid(where), play_id: id };
    });
    app.delete(`${path}/stream`, async (req) => {
      const where = target(req);
      const stopped = services.playback.stop('play', where, principalOf(req));
      return { message: 'Stream stopped', uuid: uuid(where), stopped };
    });
    app.put(`${path}/talk`, async (req) => {
      const where = target(req);
      const body = parseOrThrow(talkBody, req.body ?? {}, 'talk');
      const { id } = await services.playback.say(where, body, principalOf(req));
      return { message: 'Talk started', uuid: uuid(where), say_id: id };
    });
    app.delete(`${path}/talk`, async (req) => {
      const where = target(req);
      const stopped = services.playback.stop('say', where, principalOf(req));
      return { message: 'Talk stopped', uuid: uuid(where), stopped };
    });
    app.put(`${path}/record`, async (req) => {
      const where = target(req);
      const body = parseOrThrow(recordBody, req.body ?? {}, 'record');
      const started = await services.recorder.start(where, body, principalOf(req));
      return { message: 'Recording started', uuid: uuid(where), ...started };
    });
    app.delete(`${path}/record`, async (req) => {
      const where = target(req);
      const stopped = services.recorder.stop(where, principalOf(req));
      return { message: 'Recording stopped', uuid: uuid(where), stopped };
    });
  }

  app.put('/v1/legs/:id/dtmf', async (req) => {
    const { id } = parseOrThrow(legParams, req.params, 'path', 'LegNotFound');
    const { digits } = parseOrThrow(dtmfBody, req.body ?? {}, 'dtmf');
    services.playback.dtmf(id, digits, principalOf(req));
    return { message: 'DTMF sent', uuid: id };
  });
}
