import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PlayTarget } from '../../../services/playbackService.js';
import type { Services } from '../../../services/services.js';
import { dtmfDigits, playParams, recordParams, sayParams } from '../../mediaSchemas.js';
import { principalOf } from '../auth.js';
import { AUTHENTICATED, json, mediaStarted, mediaStopped, problems } from '../responses.js';
import { refusedAs } from '../schemaCompilers.js';
import { conversationParams } from '../schemas.js';
import { legParams } from './legs.js';

const tags = ['audio'];
const streamBody = refusedAs(z.strictObject(playParams), 'ValidationFailed', 'stream');
const talkBody = refusedAs(z.strictObject(sayParams), 'ValidationFailed', 'talk');
const dtmfBody = refusedAs(z.strictObject({ digits: dtmfDigits }), 'ValidationFailed', 'dtmf');
const recordBody = refusedAs(z.strictObject(recordParams), 'ValidationFailed', 'record');

const uuid = z.uuid();
const streamStarted = mediaStarted({ play_id: uuid });
const talkStarted = mediaStarted({ say_id: uuid });
const recordStarted = mediaStarted({
  recording_id: uuid,
  split: z
    .array(z.strictObject({ leg_id: uuid, recording_id: uuid }))
    .optional()
    .describe('with `split` on a conversation: one recording per leg'),
});
const dtmfSent = z.strictObject({ message: z.string(), uuid: z.string() });

const START_PROBLEMS = problems(400, ...AUTHENTICATED, 403, 404, 409, 413, 415, 422, 503);
const STOP_PROBLEMS = problems(...AUTHENTICATED, 403, 404, 409);

/**
 * Audio in calls, as Vonage's call API: `PUT`/`DELETE` `/stream` and `/talk` on a leg (only it
 * hears) or on a conversation (everyone does), `/record` of a leg's audio or the conversation's
 * mix, and `PUT /v1/legs/:id/dtmf`.
 */
export function playbackRoutes(app: FastifyInstance, services: Services): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const targets = [
    { path: '/v1/legs/:id', params: legParams, who: 'the leg', target: (id: string): PlayTarget => ({ legId: id }) },
    { path: '/v1/conversations/:id', params: conversationParams, who: 'the conversation', target: (id: string): PlayTarget => ({ conversationId: id }) },
  ];

  for (const { path, params, who, target } of targets) {
    r.put(
      `${path}/stream`,
      {
        schema: {
          summary: `Play audio files (WAV, from the media folder or http(s)) to ${who}`,
          tags,
          params,
          body: streamBody,
          response: { 200: json('Playing', streamStarted), ...START_PROBLEMS },
        },
      },
      async (req) => {
        const { id } = await services.playback.play(target(req.params.id), req.body, principalOf(req));
        return { message: 'Stream started', uuid: req.params.id, play_id: id };
      },
    );
    r.delete(
      `${path}/stream`,
      { schema: { summary: `Stop what plays to ${who}`, tags, params, response: { 200: json('Stopped', mediaStopped), ...STOP_PROBLEMS } } },
      async (req) => {
        const stopped = services.playback.stop('play', target(req.params.id), principalOf(req));
        return { message: 'Stream stopped', uuid: req.params.id, stopped };
      },
    );
    r.put(
      `${path}/talk`,
      {
        schema: {
          summary: `Say text (text to speech) to ${who}`,
          tags,
          params,
          body: talkBody,
          response: { 200: json('Talking', talkStarted), ...START_PROBLEMS },
        },
      },
      async (req) => {
        const { id } = await services.playback.say(target(req.params.id), req.body, principalOf(req));
        return { message: 'Talk started', uuid: req.params.id, say_id: id };
      },
    );
    r.delete(
      `${path}/talk`,
      { schema: { summary: `Stop what is said to ${who}`, tags, params, response: { 200: json('Stopped', mediaStopped), ...STOP_PROBLEMS } } },
      async (req) => {
        const stopped = services.playback.stop('say', target(req.params.id), principalOf(req));
        return { message: 'Talk stopped', uuid: req.params.id, stopped };
      },
    );
    r.put(
      `${path}/record`,
      {
        schema: {
          summary: `Record ${who} to a WAV file`,
          tags,
          params,
          body: recordBody,
          response: { 200: json('Recording', recordStarted), ...START_PROBLEMS },
        },
      },
      async (req) => {
        const started = await services.recorder.start(target(req.params.id), req.body, principalOf(req));
        return { message: 'Recording started', uuid: req.params.id, ...started };
      },
    );
    r.delete(
      `${path}/record`,
      { schema: { summary: `Stop recording ${who}`, tags, params, response: { 200: json('Stopped', mediaStopped), ...STOP_PROBLEMS } } },
      async (req) => {
        const stopped = services.recorder.stop(target(req.params.id), principalOf(req));
        return { message: 'Recording stopped', uuid: req.params.id, stopped };
      },
    );
  }

  r.put(
    '/v1/legs/:id/dtmf',
    {
      schema: {
        summary: 'Send DTMF digits to a SIP leg (RFC 4733)',
        tags,
        params: legParams,
        body: dtmfBody,
        response: { 200: json('Sent', dtmfSent), ...START_PROBLEMS },
      },
    },
    async (req) => {
      services.playback.dtmf(req.params.id, req.body.digits, principalOf(req));
      return { message: 'DTMF sent', uuid: req.params.id };
    },
  );
}
