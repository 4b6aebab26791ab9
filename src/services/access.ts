import { seesAll, type Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import type { Conversation, Member } from '../domain/model.js';
import type { MemberPlace } from '../store/membersRepo.js';
import type { Store } from '../store/store.js';

/** Authorisation rules shared by the services (one place, so REST and socket agree). */
export class Access {
  constructor(private readonly store: Store) {}

  /** The active conversation, or ConversationNotFound (deleted ones are gone for everyone). */
  conversation(id: string): Conversation {
    const c = this.store.conversations.get(id);
    if (!c || c.state !== 'active') throw fail('ConversationNotFound', `conversation ${id} not found`);
    return c;
  }

  /** The principal's current (not left) member in the conversation, if it is a user with one. */
  memberOf(conversationId: string, p: Principal): Member | undefined {
    const user = this.store.users.getByName(p.sub);
    return user ? this.store.members.current(conversationId, user.id) : undefined;
  }

  /** Conversation the principal may read: all for application/operator, own memberships for users. */
  readable(conversationId: string, p: Principal): { conversation: Conversation; member: Member | undefined } {
    const conversation = this.conversation(conversationId);
    const member = this.memberOf(conversationId, p);
    if (!seesAll(p) && !member) throw fail('Forbidden', 'not a member of this conversation');
    return { conversation, member };
  }

  /**
   * `readable` for a write on a hot path (posting an event): the same checks and refusals, but only
   * the member's id and state are read, with no conversation row or member JSON decoded.
   */
  placeIn(conversationId: string, p: Principal): MemberPlace | undefined {
    if (!this.store.conversations.isActive(conversationId)) throw fail('ConversationNotFound', `conversation ${conversationId} not found`);
    const member = this.store.members.currentPlace(conversationId, p.sub);
    if (!seesAll(p) && !member) throw fail('Forbidden', 'not a member of this conversation');
    return member;
  }

  /** Only the application may manage conversations and other people's memberships. */
  requireApplication(p: Principal, what: string): void {
    if (p.role !== 'application') throw fail('Forbidden', `${what} needs an application token`);
  }
}
