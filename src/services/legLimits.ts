import { fail } from '../domain/errors.js';
import type { RunningLeg } from '../legs/runningLeg.js';
import type { LimitWarnings } from './limitWarnings.js';

/**
 * How many WebRTC legs one member and one conversation may hold at once. Each leg holds a
 * router, a transport and ports, so a client that keeps sending offers must not grow them
 * without bound.
 */
export class LegLimits {
  constructor(
    private readonly perMember: number,
    private readonly perConversation: number,
    private readonly warnings: LimitWarnings,
  ) {}

  /** Throws LimitReached when the member or the conversation already holds its limit of live WebRTC legs. */
  check(runners: Iterable<RunningLeg>, conversationId: string, memberId: string): void {
    let ofMember = 0;
    let ofConversation = 0;
    for (const runner of runners) {
      const leg = runner.state;
      if (leg.type !== 'webrtc' || leg.status === 'ended' || leg.conversation_id !== conversationId) continue;
      ofConversation++;
      if (leg.member_id === memberId) ofMember++;
    }
    if (ofMember >= this.perMember) {
      this.warnings.tripped('max_legs_per_member', memberId, { conversation_id: conversationId, member_id: memberId });
      throw fail('LimitReached', `you hold the limit of ${this.perMember} WebRTC legs in this conversation; hang one up first`);
    }
    if (ofConversation >= this.perConversation) {
      this.warnings.tripped('max_legs_per_conversation', conversationId, { conversation_id: conversationId });
      throw fail('LimitReached', `the conversation holds its limit of ${this.perConversation} WebRTC legs`);
    }
  }
}
