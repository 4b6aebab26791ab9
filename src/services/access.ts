import { seesAll, type Principal } from '../auth/principal.js';
import { fail, type LegwayError } from '../domain/errors.js';
import type { Conversation, Member } from '../domain/model.js';
import type { MemberPlace } from '../store/membersRepo.js';
import type { Store } from '../store/store.js';

/**
 * The one refusal a user gets for a conversation it may not see, whether the conversation exists
 * or not: same code, same message, so a stranger cannot learn which names and ids exist.
 */
export function notFoundOrNotAllowed(): LegwayError {
  return fail('ConversationNotFound', 'conversation not found or not allowed');
}

/** Authorisation rules shared by the services (one place, so REST and socket agree). */
export class Access {
  constructor(private readonly store: Store) {}

  /** The active conversation, or ConversationNotFound (deleted ones are gone for everyone). */
  conversation(id: string): Conversation {
    const c = this.store.conversations.get(id);
    if (!c || c.state !== 'active') throw fail('ConversationNotFound', `conversation ${id} not found`);
    return c;
  }

  /**
   * The active conversation, for a caller that may not be allowed in it: the application and
   * operators get the precise ConversationNotFound, users the uniform refusal.
   */
  conversationFor(id: string, p: Principal): Conversation {
    if (seesAll(p)) return this.conversation(id);
    const c = this.store.conversations.get(id);
    if (!c || c.state !== 'active') throw notFoundOrNotAllowed();
    return c;
  }

  /** The principal's current (not left) member in the conversation, if it is a user with one. */
  memberOf(conversationId: string, p: Principal): Member | undefined {
    const user = this.store.users.getByName(p.sub);
    return user ? this.store.members.current(conversationId, user.id) : undefined;
  }

  /**
   * Conversation the principal may read: all for application/operator, own memberships for users.
   * A user without a membership gets the same refusal as for a conversation that does not exist.
   */
  readable(conversationId: string, p: Principal): { conversation: Conversation; member: Member | undefined } {
    const conversation = this.conversationFor(conversationId, p);
    const member = this.memberOf(conversation.id, p);
    if (!seesAll(p) && !member) throw notFoundOrNotAllowed();
    return { conversation, member };
  }

  /**
   * `readable` for a write on a hot path (posting an event): the same checks and refusals, but only
   * the member's id and state are read, with no conversation row or member JSON decoded.
   */
  placeIn(conversationId: string, p: Principal): MemberPlace | undefined {
    if (!this.store.conversations.isActive(conversationId)) {
      throw seesAll(p) ? fail('ConversationNotFound', `conversation ${conversationId} not found`) : notFoundOrNotAllowed();
    }
    const member = this.store.members.currentPlace(conversationId, p.sub);
    if (!seesAll(p) && !member) throw notFoundOrNotAllowed();
    return member;
  }

  /** Only the application may manage conversations and other people's memberships. */
  requireApplication(p: Principal, what: string): void {
    if (p.role !== 'application') throw fail('Forbidden', `${what} needs an application token`);
  }
}
