import { seesAll, type Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import type { Leg } from '../store/legsRepo.js';
import type { ConversationService } from './conversationService.js';
import type { LegService } from './legService.js';
import type { MemberService } from './memberService.js';

/**
 * Transfer: a leg (with its member's other legs) leaves one conversation's media and joins
 * another's without renegotiating its audio. The member joins the target conversation and leaves
 * the old one, so both conversations see member events, and each logs `rtc:transfer`.
 */
export class TransferService {
  constructor(
    private readonly conversations: ConversationService,
    private readonly members: MemberService,
    private readonly legs: LegService,
  ) {}

  /** Moves the leg to the conversation named or identified by `to`; operators and the application only. */
  transfer(legId: string, to: string, p: Principal, initiator: string): Leg {
    if (!seesAll(p)) throw fail('Forbidden', 'transfer needs an operator or application token');
    const leg = this.legs.get(legId, p);
    if (leg.status !== 'connected') throw fail('InvalidState', `leg is ${leg.status}; transfer needs a connected leg`);
    const target = this.conversations.resolve(to);
    if (!target || target.state !== 'active') throw fail('ConversationNotFound', `conversation ${to} not found`);
    if (target.id === leg.conversation_id) throw fail('InvalidState', 'the leg is already in that conversation');
    this.members.transfer(leg.member_id, target.id, initiator, (member) => {
      for (const id of this.legs.legsOfMember(leg.member_id)) this.legs.moveLeg(id, target.id, member.id);
    });
    return this.legs.get(legId, p);
  }
}
