import type { Logger } from 'pino';
import type { Namespace, Socket } from 'socket.io';
import type { AnyEventType } from '../../events/catalogue.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Services } from '../../services/services.js';
import type { ConversationFeed, Fanout } from './conversationFeed.js';
import type { RequestLimiter } from './limiter.js';
import type { SendBuffers } from './sendBuffers.js';
import { socketRequests } from './request.js';
import type { KnockingAnswer } from '../../services/knockingService.js';
import type { LegAction, OfferSink } from '../../services/legService.js';
import {
  joinRequest,
  knockCancelRequest,
  knockRequest,
  leaveRequest,
  legDtmfRequest,
  legRequest,
  legToggleRequest,
  rtcAnswerRequest,
  rtcIceRequest,
  rtcNewRequest,
  sendRequest,
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
  buffers: SendBuffers;
}

/** The client namespace `/`: join/leave conversations, send events, receive the conversation's events. */
export function registerClientNamespace(nsp: ClientNamespace, deps: ClientDeps): void {
  // Each event is encoded once for all the sockets of the namespace that receive it.
  const fanout: Fanout = (socketIds, event) => nsp.to(socketIds).emit(event.type as AnyEventType, event);

  nsp.on('connection', (socket: ClientSocket) => {
    const principal = socket.data.principal;
    const subscriptions = new Map<string, () => void>();
    deps.metrics.socketConnections.inc({ namespace: '/' });

    const { request, answerUnknown } = socketRequests<keyof ClientToServerEvents>(socket, deps);

    // The gateway's renegotiation offers for legs this connection created (or took over on a rejoin).
    const offers: OfferSink = {
      socketId: socket.id,
      send: (legId, sdp) => socket.emit('rtc:offer', { leg_id: legId, offer: { type: 'offer', sdp } }),
      get open() {
        return socket.connected;
      },
    };

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
        const unsubscribe = deps.feed.subscribe(id, member, principal, from, socket.id, fanout, deps.buffers.pacer(socket.conn));
        subscriptions.set(id, unsubscribe);
        // A client back after a lost connection takes its calls' offers over (video renegotiation).
        deps.services.legs.redirectOffers(id, member.id, offers);
      });
      // `since`: the id the replay starts after, which a client keeps as its resume point until events arrive.
      return { member_id: member.id, conversation_id: id, since: from };
    });

    request('conversation:leave', leaveRequest, ({ conversation_id }, afterAck) => {
      const id = deps.services.conversations.resolve(conversation_id)?.id ?? conversation_id;
      const member = deps.services.members.leaveAsUser(id, principal);
      // The member's own member:left is announced once committed, and ends the subscription there
      // (the feed's rule): unsubscribing now would lose it. By the ack it has been sent.
      const unsubscribe = subscriptions.get(id);
      afterAck(() => {
        unsubscribe?.();
        if (subscriptions.get(id) === unsubscribe) subscriptions.delete(id);
      });
      return { member_id: member.id };
    });

    request('event:send', sendRequest, ({ conversation_id, type, body, to }) => {
      const id = deps.services.conversations.resolve(conversation_id)?.id ?? conversation_id;
      const event = deps.services.events.post(id, { type, body, to }, principal);
      return { event };
    });

    request('rtc:new', rtcNewRequest, async ({ conversation_id, offer }) => {
      const id = deps.services.conversations.resolve(conversation_id)?.id ?? conversation_id;
      return deps.services.legs.createWebRtc(id, offer.sdp, principal, offers);
    });

    const knockingAnswer = (answer: KnockingAnswer): void => {
      socket.emit('knocking:answer', answer);
    };
    request('conversation:knock', knockRequest, async ({ conversation_id }) => {
      const id = deps.services.conversations.resolve(conversation_id)?.id ?? conversation_id;
      const knock = await deps.services.knocking.knock(id, principal, knockingAnswer);
      return { knocking_id: knock.id, conversation_id: knock.conversation_id };
    });
    request('conversation:knock:cancel', knockCancelRequest, ({ knocking_id }) => {
      deps.services.knocking.cancel(knocking_id, principal);
      return { knocking_id };
    });

    request('rtc:answer', rtcAnswerRequest, async ({ leg_id, answer }) => {
      await deps.services.legs.answer(leg_id, answer.sdp, principal);
      return { leg_id };
    });

    request('rtc:ice', rtcIceRequest, async ({ leg_id, candidate }) => {
      // A null candidate is the end of the client's gathering: nothing to do for an ICE-lite server.
      if (candidate) {
        await deps.services.legs.addCandidate(
          leg_id,
          { candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? null, sdpMLineIndex: candidate.sdpMLineIndex ?? null },
          principal,
        );
      }
      return {};
    });

    request('rtc:hangup', legRequest, async ({ leg_id }) => {
      await deps.services.legs.act(leg_id, 'hangup', principal, principal.sub);
      return { leg_id };
    });

    const toggle = (name: 'leg:mute' | 'leg:earmuff' | 'leg:video-mute', on: LegAction, off: LegAction): void => {
      request(name, legToggleRequest, async ({ leg_id, on: value }) => {
        const leg = await deps.services.legs.act(leg_id, value ? on : off, principal, principal.sub);
        return { leg_id, media: leg.media };
      });
    };
    toggle('leg:mute', 'mute', 'unmute');
    toggle('leg:earmuff', 'earmuff', 'unearmuff');
    toggle('leg:video-mute', 'video-mute', 'video-unmute');

    request('leg:dtmf', legDtmfRequest, async ({ leg_id, digits }) => {
      await deps.services.legs.clientDtmf(leg_id, digits, principal);
      return { leg_id };
    });

    answerUnknown();

    socket.on('disconnect', () => {
      // A client that goes away stops waiting at the doors it knocked at.
      deps.services.knocking.cancelAll(knockingAnswer);
      for (const unsubscribe of subscriptions.values()) unsubscribe();
      subscriptions.clear();
      deps.metrics.socketConnections.dec({ namespace: '/' });
      void deps.limiter.forget(socket.id);
    });
  });
}
