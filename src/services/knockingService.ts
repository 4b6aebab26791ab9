import { randomUUID } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { seesAll, type Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import { SYSTEM_ORIGIN } from '../domain/model.js';
import type { Access } from './access.js';
import type { ServiceContext } from './context.js';
import type { LimitWarnings } from './limitWarnings.js';
import type { MemberService } from './memberService.js';

/** What the knocking client is told when its knock is answered. */
export interface KnockingAnswer {
  knocking_id: string;
  conversation_id: string;
  admitted: boolean;
  member_id?: string;
}

/** A pending knock, as operators and the application list it. */
export interface Knocking {
  id: string;
  conversation_id: string;
  user: { id: string; name: string };
  created: string;
}

interface Pending extends Knocking {
  notify: (answer: KnockingAnswer) => void;
}

export interface KnockLimits {
  /** New knocks one user may make per minute, over all conversations. */
  perMinute: number;
  warnings: LimitWarnings;
}

/** Pending knocks per conversation; a busy door is a sign of abuse, not of demand. */
const MAX_PENDING_PER_CONVERSATION = 100;

/**
 * Knocking: a user asks to join a conversation it is not a member of (`app:knocking`); an
 * operator or the application admits it (it becomes a joined member) or refuses it; the user may
 * withdraw (`app:knocking:cancel`, which also marks a refused knock as over). Knocks live as long
 * as the knocking client's connection: they are requests of a person waiting at the door.
 */
export class KnockingService {
  private readonly pending = new Map<string, Pending>();
  private readonly perUser: RateLimiterMemory;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
    private readonly members: MemberService,
    private readonly limits: KnockLimits,
  ) {
    this.perUser = new RateLimiterMemory({ points: limits.perMinute, duration: 60 });
  }

  /**
   * A user knocks; `notify` delivers the answer to it. Knocking again while waiting returns the
   * same knock; any other knock counts against the user's knocks per minute (over all
   * conversations), also one at a conversation that does not exist, so knocks cannot probe names.
   */
  async knock(conversationId: string, p: Principal, notify: (answer: KnockingAnswer) => void): Promise<Knocking> {
    if (p.role !== 'user') throw fail('Forbidden', 'only users knock; operators and the application join directly');
    const again = this.pendingOf(conversationId, p);
    if (again) return publicView(again);
    try {
      await this.perUser.consume(p.sub);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      this.limits.warnings.tripped('knock_rate_limit', p.sub, { user: p.sub });
      throw fail('RateLimited', `at most ${this.limits.perMinute} knocks a minute; retry in ${Math.ceil(err.msBeforeNext / 1000)} s`);
    }
    return this.open(conversationId, p, notify);
  }

  /** The user's pending knock at the conversation (by id), if any. */
  private pendingOf(conversationId: string, p: Principal): Pending | undefined {
    for (const k of this.pending.values()) if (k.conversation_id === conversationId && k.user.name === p.sub) return k;
    return undefined;
  }

  private open(conversationId: string, p: Principal, notify: (answer: KnockingAnswer) => void): Knocking {
    const conversation = this.access.conversation(conversationId);
    const member = this.access.memberOf(conversation.id, p);
    if (member?.state === 'joined') throw fail('InvalidState', 'already a member of this conversation');
    // Made while the limiter answered: still the same knock.
    const again = this.pendingOf(conversation.id, p);
    if (again) return publicView(again);
    let count = 0;
    for (const k of this.pending.values()) if (k.conversation_id === conversation.id) count++;
    if (count >= MAX_PENDING_PER_CONVERSATION) throw fail('RateLimited', 'too many knocks are waiting at this conversation');

    const { store, log, clock } = this.ctx;
    return store.transaction(() => {
      const user = this.members.ensureUser(p.sub);
      const knock: Pending = {
        id: randomUUID(),
        conversation_id: conversation.id,
        user: { id: user.id, name: user.name },
        created: clock.now().toISOString(),
        notify,
      };
      log.append({
        conversation_id: conversation.id,
        type: 'app:knocking',
        from: SYSTEM_ORIGIN,
        body: { knocking_id: knock.id, user: knock.user, conversation_name: conversation.name },
      });
      this.pending.set(knock.id, knock);
      return publicView(knock);
    });
  }

  /** The knocking user withdraws. */
  cancel(knockingId: string, p: Principal): void {
    const knock = this.pending.get(knockingId);
    if (knock?.user.name !== p.sub) throw fail('NotFound', `knocking ${knockingId} not found`);
    this.close(knock);
  }

  /** Withdraws every knock of a client that went away. */
  cancelAll(notify: (answer: KnockingAnswer) => void): void {
    for (const knock of [...this.pending.values()]) if (knock.notify === notify) this.close(knock);
  }

  /** Pending knocks of a conversation (or all); operators and the application. */
  list(p: Principal, conversationId?: string): Knocking[] {
    if (!seesAll(p)) throw fail('Forbidden', 'listing knocks needs an operator or application token');
    const id = conversationId === undefined ? undefined : this.access.conversation(conversationId).id;
    return [...this.pending.values()].filter((k) => id === undefined || k.conversation_id === id).map(publicView);
  }

  /** An operator or the application admits (the user joins) or refuses the knock. */
  answer(knockingId: string, admit: boolean, p: Principal, initiator: string): KnockingAnswer {
    if (!seesAll(p)) throw fail('Forbidden', 'answering a knock needs an operator or application token');
    const knock = this.pending.get(knockingId);
    if (!knock) throw fail('NotFound', `knocking ${knockingId} not found (answered, withdrawn, or never made)`);
    let answer: KnockingAnswer;
    if (admit) {
      const member = this.members.admit(knock.conversation_id, knock.user.name, initiator);
      this.pending.delete(knock.id);
      answer = { knocking_id: knock.id, conversation_id: knock.conversation_id, admitted: true, member_id: member.id };
    } else {
      this.close(knock);
      answer = { knocking_id: knock.id, conversation_id: knock.conversation_id, admitted: false };
    }
    knock.notify(answer);
    return answer;
  }

  /** The knock is over without admission: withdrawn, refused, or its conversation gone. */
  private close(knock: Pending): void {
    this.pending.delete(knock.id);
    const { store, log, logger } = this.ctx;
    try {
      if (store.conversations.get(knock.conversation_id)?.state !== 'active') return;
      log.append({ conversation_id: knock.conversation_id, type: 'app:knocking:cancel', from: SYSTEM_ORIGIN, body: { knocking_id: knock.id } });
    } catch (err) {
      logger.error({ err, knocking_id: knock.id }, 'could not record the end of a knock');
    }
  }
}

function publicView(k: Knocking): Knocking {
  return { id: k.id, conversation_id: k.conversation_id, user: k.user, created: k.created };
}
