import type { Logger } from 'pino';
import type { Principal } from '../../auth/principal.js';
import { CONVERSATION_DELETED, type ConversationEvent, type Member } from '../../domain/model.js';
import type { EventService } from '../../services/eventService.js';

/** Where a subscription's events go (a socket's emit, in practice). */
export type Deliver = (event: ConversationEvent) => void;

interface Subscription {
  conversationId: string;
  member: Member;
  principal: Principal;
  deliver: Deliver;
  /** Highest id delivered (or claimed seen by the client); nothing at or below it is sent again. */
  lastSent: number;
  /** False while the backlog replays from the store; live events are then left to the replay. */
  live: boolean;
  /** Set by the member's own member:left of a deletion: only the conversation:deleted may follow. */
  leaving: boolean;
  closed: boolean;
}

const REPLAY_BATCH = 500;

/**
 * Per-subscriber delivery of a conversation's events, in id order, each once: a join replays
 * the backlog after `since` from the store in batches, then switches to live events in the same
 * tick as its last read, so an event committed during the replay is read, not pushed twice.
 */
export class ConversationFeed {
  private readonly byConversation = new Map<string, Set<Subscription>>();

  constructor(
    private readonly events: EventService,
    private readonly logger: Logger,
  ) {}

  /** Starts delivering the conversation's events after `since` to `deliver`; returns the unsubscribe function. */
  subscribe(conversationId: string, member: Member, principal: Principal, since: number, deliver: Deliver): () => void {
    const sub: Subscription = { conversationId, member, principal, deliver, lastSent: since, live: false, leaving: false, closed: false };
    let set = this.byConversation.get(conversationId);
    if (!set) {
      set = new Set();
      this.byConversation.set(conversationId, set);
    }
    set.add(sub);
    this.replay(sub);
    return () => this.remove(sub);
  }

  /** Called with every committed event. */
  publish(event: ConversationEvent): void {
    const set = this.byConversation.get(event.conversation_id);
    if (!set) return;
    for (const sub of [...set]) {
      if (!sub.live || event.id <= sub.lastSent) continue;
      this.send(sub, event);
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
    try {
      const page = this.events.replay(sub.conversationId, sub.lastSent, sub.member, sub.principal, REPLAY_BATCH);
      for (const event of page.items) {
        if (!this.send(sub, event)) return;
      }
      if (page.next !== undefined) {
        // More to read: yield to the loop between batches so a long backlog cannot stall other work.
        setImmediate(() => this.replay(sub));
        return;
      }
      sub.live = true;
    } catch (err) {
      this.logger.warn({ err, conversation_id: sub.conversationId }, 'replay failed; subscription dropped');
      this.remove(sub);
    }
  }

  /** Delivers one event if the subscriber may see it; returns false once the subscription has ended. */
  private send(sub: Subscription, event: ConversationEvent): boolean {
    sub.lastSent = event.id;
    if (sub.leaving && event.type !== 'conversation:deleted') return true;
    if (sub.principal.role === 'user' && event.to !== undefined && event.to !== sub.member.id && event.from !== sub.member.id) {
      return true;
    }
    sub.deliver(event);
    // The conversation's end is the last thing a member receives, and its own departure ends the
    // subscription too, except when the departure is part of a deletion: then only the
    // conversation:deleted that closes that deletion still follows, so the client learns why.
    if (event.type === 'conversation:deleted') {
      this.remove(sub);
      return false;
    }
    if (event.type === 'member:left' && event.from === sub.member.id) {
      if (event.body.reason !== CONVERSATION_DELETED) {
        this.remove(sub);
        return false;
      }
      sub.leaving = true;
    }
    return true;
  }

  private remove(sub: Subscription): void {
    sub.closed = true;
    const set = this.byConversation.get(sub.conversationId);
    if (!set) return;
    set.delete(sub);
    if (set.size === 0) this.byConversation.delete(sub.conversationId);
  }
}
