import { nextMemberState, type MemberCommand } from '../../machines/member.machine.js';
import type { Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import type { Member, MemberChannel, MemberState, User } from '../domain/model.js';
import { newMemberId, newUserId } from '../lib/ids.js';
import type { Page, PageRequest } from '../store/page.js';
import { notFoundOrNotAllowed, type Access } from './access.js';
import type { ServiceContext } from './context.js';
import type { LegTermination } from './legService.js';
import type { LimitWarnings } from './limitWarnings.js';

export interface CreateMember {
  user: { name?: string | undefined; id?: string | undefined; display_name?: string | undefined };
  state: 'invited' | 'joined';
  channel?: MemberChannel | undefined;
}

const NO_MEDIA = { audio: false, video: false, muted: false, earmuffed: false } as const;

const EVENT_OF: Record<MemberState, 'member:invited' | 'member:joined' | 'member:left'> = {
  invited: 'member:invited',
  joined: 'member:joined',
  left: 'member:left',
};

export interface MemberLimits {
  /** Current (invited or joined) members a conversation may have; a new one past it is refused. */
  maxPerConversation: number;
  /** Where a refusal is logged (once a minute per conversation). */
  warnings: LimitWarnings;
}

/** Members: invite, join and leave (through the member machine), as the application or as the user. */
export class MemberService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
    private readonly legs: LegTermination,
    private readonly limits: MemberLimits,
  ) {}

  /** The user of that name, created on first use. */
  ensureUser(name: string, displayName?: string): User {
    const { store, clock } = this.ctx;
    const existing = store.users.getByName(name);
    if (existing) return existing;
    const user: User = { id: newUserId(), name };
    if (displayName !== undefined) user.display_name = displayName;
    store.users.insert(user, clock.now().toISOString());
    return user;
  }

  /** Application adds a member (invited or joined) for a user named or identified in the body. */
  create(conversationId: string, input: CreateMember, p: Principal): Member {
    this.access.requireApplication(p, 'adding a member');
    const { store } = this.ctx;
    return store.transaction(() => {
      this.access.conversation(conversationId);
      let user: User | undefined;
      if (input.user.id !== undefined) {
        user = store.users.getById(input.user.id);
        if (!user) throw fail('UserNotFound', `user ${input.user.id} not found`);
      } else if (input.user.name !== undefined) {
        user = this.ensureUser(input.user.name, input.user.display_name);
      } else {
        throw fail('ValidationFailed', 'user.name or user.id is required');
      }
      const existing = store.members.current(conversationId, user.id);
      if (existing) throw fail('MemberExists', `user is already a member (${existing.id}, ${existing.state})`, { member_id: existing.id });
      return this.insert(conversationId, user, input.state, input.channel ?? { type: 'app' }, 'application');
    });
  }

  get(conversationId: string, memberId: string, p: Principal): Member {
    this.access.readable(conversationId, p);
    const member = this.ctx.store.members.get(memberId);
    if (member?.conversation_id !== conversationId) throw fail('MemberNotFound', `member ${memberId} not found`);
    return member;
  }

  list(conversationId: string, page: PageRequest, p: Principal): Page<Member> {
    this.access.readable(conversationId, p);
    return this.ctx.store.members.list(conversationId, page);
  }

  /** The conversation's members that have not left (invited and joined), oldest first. */
  current(conversationId: string, p: Principal): Member[] {
    this.access.readable(conversationId, p);
    return this.ctx.store.members.currentMembers(conversationId);
  }

  /** Moves a member to `joined` or `left`: the application for anyone, a user for its own member. */
  setState(conversationId: string, memberId: string, state: 'joined' | 'left', p: Principal): Member {
    const { store } = this.ctx;
    return store.transaction(() => {
      const member = this.get(conversationId, memberId, p);
      if (p.role !== 'application' && member.user.name !== p.sub) {
        throw fail('Forbidden', 'only the application may change another member');
      }
      return this.move(member, state === 'joined' ? 'JOIN' : 'LEAVE', p.role === 'application' ? 'application' : p.sub);
    });
  }

  /**
   * A user joins through the socket API. An invited member joins; a joined one stays as it is;
   * without a membership the token's `join` claim must name the conversation.
   * Returns the member and whether this call changed it.
   */
  joinAsUser(conversationId: string, p: Principal): Member {
    const { store } = this.ctx;
    return store.transaction(() => {
      const conversation = this.access.conversationFor(conversationId, p);
      const current = this.access.memberOf(conversationId, p);
      if (current?.state === 'joined') return current;
      if (current) return this.move(current, 'JOIN', p.sub);
      const allowed = p.role === 'operator' || p.join.some((j) => j === '*' || j === conversation.id || j === conversation.name);
      if (!allowed) throw notFoundOrNotAllowed();
      return this.insert(conversationId, this.ensureUser(p.sub), 'joined', { type: 'app' }, p.sub);
    });
  }

  /** An operator or the application lets a user in (an answered knock): it becomes a joined member. */
  admit(conversationId: string, userName: string, initiator: string, channel: MemberChannel = { type: 'app' }): Member {
    const { store } = this.ctx;
    return store.transaction(() => {
      this.access.conversation(conversationId);
      const user = this.ensureUser(userName);
      const current = store.members.current(conversationId, user.id);
      if (current?.state === 'joined') return current;
      if (current) return this.move(current, 'JOIN', initiator);
      return this.insert(conversationId, user, 'joined', channel, initiator);
    });
  }

  /** A callee being called: an invited member (channel sip) that joins when it answers. */
  inviteCallee(conversationId: string, userName: string, channel: MemberChannel, initiator: string): Member {
    const { store } = this.ctx;
    return store.transaction(() => {
      this.access.conversation(conversationId);
      const user = this.ensureUser(userName);
      const current = store.members.current(conversationId, user.id);
      if (current) return current;
      return this.insert(conversationId, user, 'invited', channel, initiator);
    });
  }

  /** A member whose call ended leaves (a SIP caller hung up); nothing when it has left already. */
  leaveMember(memberId: string, initiator: string, reason: string): void {
    const { store } = this.ctx;
    store.transaction(() => {
      const member = store.members.get(memberId);
      if (!member || member.state === 'left' || store.conversations.get(member.conversation_id)?.state !== 'active') return;
      this.move(member, 'LEAVE', initiator, reason);
    });
  }

  /** A user leaves through the socket API. */
  leaveAsUser(conversationId: string, p: Principal): Member {
    const { store } = this.ctx;
    return store.transaction(() => {
      this.access.conversationFor(conversationId, p);
      const member = this.access.memberOf(conversationId, p);
      if (!member) throw p.role === 'user' ? notFoundOrNotAllowed() : fail('Forbidden', 'not a member of this conversation');
      return this.move(member, 'LEAVE', p.sub);
    });
  }

  /**
   * A transfer's member side, in one transaction: the member's user joins the target conversation
   * (its member there is reused or made), `moveLegs` hands the legs over to that member, and only
   * then does the old member leave, so that its leaving does not end the legs it no longer has.
   */
  transfer(memberId: string, toConversationId: string, initiator: string, moveLegs: (to: Member) => void): Member {
    const { store } = this.ctx;
    return store.transaction(() => {
      const from = store.members.get(memberId);
      if (from?.state !== 'joined') throw fail('InvalidState', 'only a joined member can be transferred');
      this.access.conversation(toConversationId);
      const current = store.members.current(toConversationId, from.user.id);
      let to: Member;
      if (current?.state === 'joined') to = current;
      else if (current) to = this.move(current, 'JOIN', initiator);
      else to = this.insert(toConversationId, from.user, 'joined', from.channel, initiator);
      moveLegs(to);
      this.move(from, 'LEAVE', initiator, 'transferred');
      return to;
    });
  }

  /** Every current member leaves (conversation deleted); must run inside the caller's transaction. */
  removeAll(conversationId: string, reason: string): void {
    for (const member of this.ctx.store.members.currentMembers(conversationId)) {
      this.move(member, 'LEAVE', 'system', reason);
    }
  }

  private insert(conversationId: string, user: User, state: 'invited' | 'joined', channel: MemberChannel, initiator: string): Member {
    // Every new membership comes through here (join, invite, admitted knock, callee, transfer).
    const limits = this.limits;
    if (this.ctx.store.members.countCurrent(conversationId) >= limits.maxPerConversation) {
      limits.warnings.tripped('max_members_per_conversation', conversationId, { conversation_id: conversationId });
      throw fail('LimitReached', `the conversation has its limit of ${limits.maxPerConversation} members`);
    }
    const now = this.ctx.clock.now().toISOString();
    const member: Member = {
      id: newMemberId(),
      conversation_id: conversationId,
      user,
      state,
      channel,
      media: { ...NO_MEDIA },
      timestamp: state === 'joined' ? { joined: now } : { invited: now },
      initiator,
    };
    this.ctx.store.members.insert(member);
    this.record(member, initiator);
    return member;
  }

  private move(member: Member, command: MemberCommand['type'], initiator: string, reason?: string): Member {
    const state = nextMemberState(member.state, command);
    if (!state) throw fail('InvalidState', `member is ${member.state}; cannot ${command.toLowerCase()}`);
    // A member that leaves takes its media with it: its legs end (rtc:terminate) before member:left.
    if (state === 'left') this.legs.terminateMember(member.id, reason ?? 'member left');
    const now = this.ctx.clock.now().toISOString();
    const next: Member = { ...member, state, timestamp: { ...member.timestamp, [state]: now } };
    if (state === 'left') next.media = { ...NO_MEDIA };
    this.ctx.store.members.update(next);
    this.record(next, initiator, reason);
    return next;
  }

  /** Writes the member event and keeps the conversation's idle clock (for ttl) in step. */
  private record(member: Member, initiator: string, reason?: string): void {
    const { store, log } = this.ctx;
    const body: Record<string, unknown> = {
      member_id: member.id,
      user: member.user,
      channel: member.channel,
      state: member.state,
      timestamp: member.timestamp,
      initiator,
    };
    if (reason !== undefined) body.reason = reason;
    log.append({ conversation_id: member.conversation_id, type: EVENT_OF[member.state], from: member.id, body });
    // A member that joins is someone in the conversation: no need to count.
    const someoneIn = member.state === 'joined' || store.members.hasJoined(member.conversation_id);
    store.conversations.setIdleSince(member.conversation_id, someoneIn ? null : this.ctx.clock.now().toISOString());
  }
}
