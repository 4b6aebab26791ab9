import type { Logger } from 'pino';
import type { Namespace, Socket } from 'socket.io';
import type { z } from 'zod';
import { toLegwayError } from '../../domain/errors.js';
import { parseOrThrow } from '../../domain/validation.js';
import type { AnyEventType } from '../../events/catalogue.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Services } from '../../services/services.js';
import type { ConversationFeed } from './conversationFeed.js';
import type { RequestLimiter } from './limiter.js';
import type { LegAction } from '../../services/legService.js';
import {
  joinRequest,
  leaveRequest,
  legRequest,
  legToggleRequest,
  rtcIceRequest,
  rtcNewRequest,
  sendRequest,
  type Ack,
  type ClientToServerEvents,
  type InterServerEvents,
  type ServerToClientEvents,
  type SocketData,
} from './protocol.js';

type ClientSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type ClientNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

interface ClientDeps {
  logger: Logger;
  services: Services;
  metrics: Metrics;
  feed: ConversationFeed;
  limiter: RequestLimiter;
}

/** A request handler; `afterAck` queues work that must follow the acknowledgement on the wire. */
type Handler<S extends z.ZodType> = (
  payload: z.infer<S>,
  afterAck: (fn: () => void) => void,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** The client namespace `/`: join/leave conversations, send events, receive the conversation's events. */
export function registerClientNamespace(nsp: ClientNamespace, deps: ClientDeps): void {
  nsp.on('connection', (socket: ClientSocket) => {
    const principal = socket.data.principal;
    const log = deps.logger.child({ component: 'socket', socket_id: socket.id, role: principal.role });
    const subscriptions = new Map<string, () => void>();
    deps.metrics.socketConnections.inc({ namespace: '/' });

    /** Registers a request: rate limit, validate, run, answer with one ack; nothing escapes as a crash. */
    function request<S extends z.ZodType>(name: keyof ClientToServerEvents, schema: S, handler: Handler<S>): void {
      socket.on(name, (payload: unknown, ack: unknown) => {
        const reply: Ack = typeof ack === 'function' ? (ack as Ack) : () => undefined;
        void (async () => {
          try {
            await deps.limiter.take(socket.id, `${principal.role}:${principal.sub}`);
            const input = parseOrThrow(schema, payload, `${name} payload`);
            const after: (() => void)[] = [];
            const result = await handler(input, (fn) => after.push(fn));
            deps.metrics.socketRequests.inc({ request: name, outcome: 'ok' });
            reply({ ok: true, ...result });
            for (const fn of after) fn();
          } catch (err) {
            const error = toLegwayError(err);
            if (error.code === 'Internal') log.error({ err, request: name }, 'socket request failed');
            deps.metrics.socketRequests.inc({ request: name, outcome: error.code });
            reply({ ok: false, error: { code: error.code, message: error.message } });
          }
        })();
      });
    }

    request('conversation:join', joinRequest, ({ conversation_id, since }, afterAck) => {
      const conversation = deps.services.conversations.resolve(conversation_id);
      const id = conversation?.id ?? conversation_id;
      // Without `since`, the client starts from now: its own member:joined is the first thing it gets.
      const before = conversation ? deps.services.events.lastId(id) : 0;
      const member = deps.services.members.joinAsUser(id, principal);
      subscriptions.get(id)?.();
      const from = since ?? before;
      // The ack goes out before the replay starts: acks and events share the socket's ordered stream.
      // Events committed meanwhile are in the store, so the replay reads them.
      afterAck(() => {
        if (socket.disconnected) return;
        const unsubscribe = deps.feed.subscribe(id, member, principal, from, (event) => socket.emit(event.type as AnyEventType, event));
        subscriptions.set(id, unsubscribe);
      });
      return { member_id: member.id, conversation_id: id };
    });

    request('conversation:leave', leaveRequest, ({ conversation_id }) => {
      const id = deps.services.conversations.resolve(conversation_id)?.id ?? conversation_id;
      const member = deps.services.members.leaveAsUser(id, principal);
      subscriptions.get(id)?.();
      subscriptions.delete(id);
      return { member_id: member.id };
    });

    request('event:send', sendRequest, ({ conversation_id, type, body, to }) => {
      const id = deps.services.conversations.resolve(conversation_id)?.id ?? conversation_id;
      const event = deps.services.events.post(id, { type, body, to }, principal);
      return { event };
    });

    request('rtc:new', rtcNewRequest, async ({ conversation_id, offer }) => {
      const id = deps.services.conversations.resolve(conversation_id)?.id ?? conversation_id;
      return deps.services.legs.createWebRtc(id, offer.sdp, principal);
    });

    request('rtc:ice', rtcIceRequest, async ({ leg_id, candidate }) => {
      // A null candidate is the end of the client's gathering: nothing to do for an ICE-lite server.
      if (candidate) {
        await deps.services.legs.addCandidate(leg_id, { candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? null, sdpMLineIndex: candidate.sdpMLineIndex ?? null }, principal);
      }
      return {};
    });

    request('rtc:hangup', legRequest, ({ leg_id }) => {
      deps.services.legs.act(leg_id, 'hangup', principal, principal.sub);
      return { leg_id };
    });

    const toggle = (name: 'leg:mute' | 'leg:earmuff' | 'leg:video-mute', on: LegAction, off: LegAction): void => {
      request(name, legToggleRequest, ({ leg_id, on: value }) => {
        const leg = deps.services.legs.act(leg_id, value ? on : off, principal, principal.sub);
        return { leg_id, media: leg.media };
      });
    };
    toggle('leg:mute', 'mute', 'unmute');
    toggle('leg:earmuff', 'earmuff', 'unearmuff');
    toggle('leg:video-mute', 'video-mute', 'video-unmute');

    socket.onAny((name: string, ...args: unknown[]) => {
      // Own keys only: `in` would also match Object.prototype names ('constructor', '__proto__'…), leaving them unanswered.
      if (Object.hasOwn(HANDLED, name)) return;
      const ack = args.at(-1);
      deps.metrics.socketRequests.inc({ request: 'unknown', outcome: 'UnknownRequest' });
      if (typeof ack === 'function') {
        (ack as Ack)({ ok: false, error: { code: 'UnknownRequest', message: `unknown request "${name.slice(0, 60)}"` } });
      }
    });

    socket.on('disconnect', () => {
      for (const unsubscribe of subscriptions.values()) unsubscribe();
      subscriptions.clear();
      deps.metrics.socketConnections.dec({ namespace: '/' });
      void deps.limiter.forget(socket.id);
    });
  });
}

const HANDLED: Record<keyof ClientToServerEvents, true> = {
  'conversation:join': true,
  'conversation:leave': true,
  'event:send': true,
  'rtc:new': true,
  'rtc:ice': true,
  'rtc:hangup': true,
  'leg:mute': true,
  'leg:earmuff': true,
  'leg:video-mute': true,
};
