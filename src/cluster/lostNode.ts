import type { LegService } from '../services/legService.js';
import type { MemberService } from '../services/memberService.js';
import type { Leg } from '../store/legsRepo.js';
import type { Store } from '../store/store.js';

/**
 * Ends the legs of a node the cluster lost, with their terminal events, and frees the conversations
 * it owned; their members leave unless they still have legs on another node.
 */
export function endLostNode(deps: { store: Store; legs: LegService; members: MemberService }, lostId: string): void {
  const { store, legs, members } = deps;
  const ended = legs.endLegsOfNode(lostId, 'node lost');
  store.write(() => store.owners.releaseAll(lostId));
  const leaving = new Map<string, Leg>();
  for (const leg of ended) leaving.set(leg.member_id, leg);
  for (const [memberId, leg] of leaving) {
    const elsewhere = store.legs.listByConversation(leg.conversation_id).some((l) => l.member_id === memberId && l.status !== 'ended');
    if (!elsewhere) members.leaveMember(memberId, leg.type === 'sip' ? 'sip' : memberId, 'node lost');
  }
}
