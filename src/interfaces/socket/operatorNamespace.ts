import type { Logger } from 'pino';
import type { Namespace, Socket } from 'socket.io';
import { fail } from '../../domain/errors.js';
import type { AnyEventType } from '../../events/catalogue.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Services } from '../../services/services.js';
import { decodeCursor, encodeCursor } from '../http/paging.js';
import type { Fanout } from './conversationFeed.js';
import type { RequestLimiter } from './limiter.js';
import {
  CONVERSATION_PAGE,
  MEMBERS_SHOWN,
  conversationListRequest,
  knockingAnswerRequest,
  knockingListRequest,
  legActionRequest,
  legListRequest,
  unwatchRequest,
  watchRequest,
  type OperatorRequest,
  type OperatorToServerEvents,
  type ServerToOperatorEvents,
} from './operatorProtocol.js';
import { OperatorWatch, type CommittedSource, type Selection } from './operatorWatch.js';
import type { InterServerEvents, SocketData } from './protocol.js';
import { socketRequests } from './request.js';

export type OperatorSocket = Socket<OperatorToServerEvents, ServerToOperatorEvents, InterServerEvents, SocketData>;
export type OperatorNamespace = Namespace<OperatorToServerEvents, ServerToOperatorEvents, InterServerEvents, SocketData>;

interface OperatorDeps {
  logger: Logger;
  services: Services;
  metrics: Metrics;
  limiter: RequestLimiter;
  /** The event log's committed events (EventLog.onCommitted). */
  committed: CommittedSource;
}

/**
 * The operator namespace `/operator` (operator tokens only, checked at the handshake): list
 * conversations and live legs, watch every event of all or some conversations, act on any leg.
 */
export function registerOperatorNamespace(nsp: OperatorNamespace, deps: OperatorDeps): void {
  // Each watched event is encoded once for all the watching sockets.
  const fanout: Fanout = (socketIds, event) => nsp.to(socketIds).emit(event.type as AnyEventType, event);
  const watch = new OperatorWatch(deps.committed, fanout, deps.logger.child({ component: 'operator-watch' }));

  nsp.on('connection', (socket: OperatorSocket) => {
    const principal = socket.data.principal;
    const { services } = deps;
    deps.metrics.socketConnections.inc({ namespace: '/operator' });
    const { request, answerUnknown } = socketRequests<OperatorRequest>(socket, deps, { invalidPayload: 'BadRequest' });

    request('conversation:list', conversationListRequest, (payload) => {
      const size = payload?.page_size ?? CONVERSATION_PAGE.default;
      const after = decodeCursor(payload?.cursor, 'asc');
      const page = services.conversations.list({ size, order: 'asc', ...(after !== undefined && { after }) }, principal);
      const legCount = new Map<string, number>();
      for (const leg of services.legs.listLive(principal)) legCount.set(leg.conversation_id, (legCount.get(leg.conversation_id) ?? 0) + 1);
      const conversations = page.items.map((conversation) => {
        const members = services.members.current(conversation.id, principal);
        return {
          ...conversation,
          member_count: members.length,
          members: members.slice(0, MEMBERS_SHOWN),
          leg_count: legCount.get(conversation.id) ?? 0,
        };
      });
      return { conversations, ...(page.next !== undefined && { next_cursor: encodeCursor('asc', page.next) }) };
    });

    request('leg:list', legListRequest, async (payload) => {
      const ref = payload?.conversation_id;
      const conversationId = ref === undefined ? undefined : (services.conversations.resolve(ref)?.id ?? ref);
      await services.legs.refreshStats();
      return { legs: services.legs.listLive(principal, conversationId) };
    });

    request('watch', watchRequest, (payload, afterAck) => {
      let selection: Selection = 'all';
      if (payload?.conversation_ids) {
        const ids = new Set<string>();
        for (const ref of payload.conversation_ids) {
          const conversation = services.conversations.resolve(ref);
          if (!conversation) throw fail('ConversationNotFound', `conversation ${ref} not found`);
          ids.add(conversation.id);
        }
        selection = ids;
      }
      // Events start after the ack, so the operator reads the ack first and then the events, in commit order.
      afterAck(() => {
        if (socket.disconnected) return;
        watch.watch(socket.id, selection);
      });
      return { watching: selection === 'all' ? 'all' : [...selection] };
    });

    request('unwatch', unwatchRequest, () => {
      watch.unwatch(socket.id);
      return {};
    });

    request('leg:action', legActionRequest, async (payload) => {
      const target = { legId: payload.leg_id };
      switch (payload.action) {
        case 'transfer':
          return { leg: services.transfers.transfer(payload.leg_id, payload.conversation_id, principal, principal.sub) };
        case 'play':
          return { play_id: (await services.playback.play(target, payload, principal)).id };
        case 'play:stop':
          return { stopped: services.playback.stop('play', target, principal) };
        case 'say':
          return { say_id: (await services.playback.say(target, payload, principal)).id };
        case 'say:stop':
          return { stopped: services.playback.stop('say', target, principal) };
        case 'record':
          return await services.recorder.start(target, payload, principal);
        case 'record:stop':
          return { stopped: services.recorder.stop(target, principal) };
        case 'dtmf':
          services.playback.dtmf(payload.leg_id, payload.digits, principal);
          return {};
        default:
          // The operator is the initiator, as over REST (`PUT /v1/legs/:id`): it appears in the events' body.initiator.
          return { leg: await services.legs.act(payload.leg_id, payload.action, principal, principal.sub) };
      }
    });

    request('knocking:list', knockingListRequest, (payload) => {
      const ref = payload?.conversation_id;
      const id = ref === undefined ? undefined : (services.conversations.resolve(ref)?.id ?? ref);
      return { knockings: services.knocking.list(principal, id) };
    });

    request('knocking:answer', knockingAnswerRequest, ({ knocking_id, admit }) => {
      return { ...services.knocking.answer(knocking_id, admit, principal, principal.sub) };
    });

    answerUnknown();

    socket.on('disconnect', () => {
      watch.unwatch(socket.id);
      deps.metrics.socketConnections.dec({ namespace: '/operator' });
      void deps.limiter.forget(socket.id);
    });
  });
}
