import type { Logger } from 'pino';
import type { Principal } from '../../auth/principal.js';
import { CONVERSATION_DELETED, type ConversationEvent, type Member } from '../../domain/model.js';
import type { EventService } from '../../services/eventService.js';
import type { Pacer } from './sendBuffers.js';

/**
 * Sends one event to some sockets of one namespace, encoding it once for all of them: socket.io's
 * broadcast (`nsp.to(socketIds).emit(type, event)`) serialises the packet and builds its WebSocket
 * frame once, then writes that frame to each socket.
 */
export type Fanout = (socketIds: string[], event: ConversationEvent) => void;

interface Subscription {
  conversationId: string;
  member: Member;
  principal: Principal;
  /** The subscribing socket's id (its own room in socket.io). */
  socketId: string;
  fanout: Fanout;
  /** Holds the replay back while the socket's send buffer is full. */
  pacer: Pacer | undefined;
  /** Highest id delivered (or claimed seen by the client); nothing at or below it is sent again. */
  lastSent: number;
  /** False while the backlog replays from the store; live events are then left to the replay. */
  live: boolean;
  /** Set by the member's own member:left of a deletion: only the conversation:deleted may follow. */
  leaving: boolean;
  closed: boolean;
}

/** The sockets of one namespace that receive one event. */
interface Recipients {
  fanout: Fanout;
  socketIds: string[];
}

/**
 * Per-subscriber delivery of a conversation's events, in id order, each once: a join replays
 * the backlog after `since` from the store in pages, then switches to live events in the same
 * tick as its last read, so an event committed during the replay is read, not pushed twice.
 * With a pacer, the replay waits whenever the socket's send buffer fills (a slow reader, a long
 * backlog) and goes on once it has drained, so a replay never holds more than about half the
 * buffer limit in memory.
 * A live event goes to all the live subscribers that may see it in one broadcast per namespace,
 * so its cost follows events, not recipients. A live event whose id is not the next one a
 * subscriber expects (in a cluster, another node's events arrive through Redis, and not always in
 * id order) sends that subscriber back to the store, which holds every committed event: each is
 * still delivered once, in order.
 */
export class ConversationFeed {
  private readonly byConversation = new Map<string, Set<Subscription>>();

  constructor(
    private readonly events: EventService,
    private readonly logger: Logger,
    /** Events read from the store per replay page. */
    private readonly pageEvents = 200,
  ) {}

  /**
   * Starts delivering the conversation's events after `since` to socket `socketId` through `fanout`
   * (its namespace's broadcast), paced by `pacer` when given; returns the unsubscribe function.
   */
  subscribe(conversationId: string, member: Member, principal: Principal, since: number, socketId: string, fanout: Fanout, pacer?: Pacer): () => void {
    const sub: Subscription = {
      conversationId,
      member,
      principal,
      socketId,
      fanout,
      pacer,
      lastSent: since,
      live: false,
      leaving: false,
      closed: false,
    };
    let set = this.byConversation.get(conversationId);
    if (!set) {
      set = new Set();
      this.byConversation.set(conversationId, set);
    }
    set.add(sub);
    this.replay(sub);
    return () => this.remove(sub);
  }

  /** Called with every committed event, in commit order (bursts of them back to back included). */
  publish(event: ConversationEvent): void {
    const set = this.byConversation.get(event.conversation_id);
    if (!set) return;
    // One namespace in practice (`/`); the list stays general for subscribers of several.
    const groups: Recipients[] = [];
    let ended: Subscription[] | undefined;
    let behind: Subscription[] | undefined;
    for (const sub of set) {
      if (!sub.live || event.id <= sub.lastSent) continue;
      if (event.id > sub.lastSent + 1) {
        // Events in between have not come this way (another node's, relayed later or lost, or left
        // out of the last replay page as not visible): read them, this one included, from the store.
        (behind ??= []).push(sub);
        continue;
      }
      sub.lastSent = event.id;
      if (!visible(sub, event)) continue;
      let group = groups.find((g) => g.fanout === sub.fanout);
      if (!group) {
        group = { fanout: sub.fanout, socketIds: [] };
        groups.push(group);
      }
      group.socketIds.push(sub.socketId);
      if (endsAfter(sub, event)) (ended ??= []).push(sub);
    }
    for (const group of groups) this.broadcast(group, event);
    // Removed after the broadcast: the event that ends a subscription is still its last one.
    if (ended) for (const sub of ended) this.remove(sub);
    if (behind) {
      for (const sub of behind) {
        sub.live = false;
        this.replay(sub);
      }
    }
  }

  /** Number of live and replaying subscriptions (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.byConversation.values()) n += set.size;
    return n;
  }

  private replay(sub: Subscription): void {
    if (sub.closed) return;
    // The store's own connection sees writes before they are durable; send only durable events,
    // and go live in the same tick as the last read (so waiting happens before reading, never after).
    if (!this.events.allDurable) {
      this.events.durable().then(
        () => this.replay(sub),
        () => this.remove(sub),
      );
      return;
    }
    try {
      const page = this.events.replay(sub.conversationId, sub.lastSent, sub.member, sub.principal, this.pageEvents);
      let full = false;
      for (const event of page.items) {
        sub.lastSent = event.id;
        if (!visible(sub, event)) continue;
        sub.fanout([sub.socketId], event);
        if (endsAfter(sub, event)) {
          this.remove(sub);
          return;
        }
        // The rest of the page is read again after the drain: `lastSent` is where it resumes.
        full = sub.pacer?.full ?? false;
        if (full) break;
      }
      if (full) {
        void sub.pacer?.drained().then(() => this.replay(sub));
        return;
      }
      if (page.next !== undefined) {
        // More to read: yield to the loop between pages so a long backlog cannot stall other work.
        setImmediate(() => this.replay(sub));
        return;
      }
      sub.live = true;
    } catch (err) {
      this.logger.warn({ err, conversation_id: sub.conversationId }, 'replay failed; subscription dropped');
      this.remove(sub);
    }
  }

  private broadcast(group: Recipients, event: ConversationEvent): void {
    try {
      group.fanout(group.socketIds, event);
    } catch (err) {
      // A namespace that cannot send must not keep the event from the others, nor break the commit's announcement.
      this.logger.warn({ err, conversation_id: event.conversation_id, event_id: event.id }, 'could not push an event to its subscribers');
    }
  }

  private remove(sub: Subscription): void {
    sub.closed = true;
    const set = this.byConversation.get(sub.conversationId);
    if (!set) return;
    set.delete(sub);
    if (set.size === 0) this.byConversation.delete(sub.conversationId);
  }
}

/**
 * Whether the subscriber receives `event`: a member that is leaving a deleted conversation gets only
 * the conversation:deleted; a user gets an event with `to` only as its sender or target. Operators
 * and the application see every event.
 */
function visible(sub: Subscription, event: ConversationEvent): boolean {
  if (sub.leaving && event.type !== 'conversation:deleted') return false;
  return sub.principal.role !== 'user' || event.to === undefined || event.to === sub.member.id || event.from === sub.member.id;
}

/**
 * Applies the ending rules to a subscriber that is sent `event`; true when its subscription ends
 * there. The conversation's end is the last thing a member receives, and its own departure ends the
 * subscription too, except when the departure is part of a deletion: then the subscription is
 * marked `leaving` and only the conversation:deleted that closes the deletion still follows, so the
 * client learns why.
 */
function endsAfter(sub: Subscription, event: ConversationEvent): boolean {
  if (event.type === 'conversation:deleted') return true;
  if (event.type === 'member:left' && event.from === sub.member.id) {
    if (event.body.reason !== CONVERSATION_DELETED) return true;
    sub.leaving = true;
  }
  return false;
}
