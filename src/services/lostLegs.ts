import type { Leg } from '../store/legsRepo.js';
import type { ServiceContext } from './context.js';

/**
 * Ends the legs that node `nodeId` (this one when undefined) was running when it stopped or was
 * lost: they cannot have survived it. Each gets its kind's terminal event with `reason`:
 * `sip:hangup` for SIP legs, `rtc:terminate` for WebRTC ones. Returns them, so that their members
 * can leave.
 */
export function endLegsOfNode(ctx: ServiceContext, nodeId: string | undefined, reason: string): Leg[] {
  const lost = ctx.store.legs.listUnfinished(nodeId);
  for (const leg of lost) recordLost(ctx, leg, reason);
  return lost;
}

function recordLost(ctx: ServiceContext, leg: Leg, reason: string): void {
  const { store, log, clock } = ctx;
  const now = clock.now().toISOString();
  try {
    store.transaction(() => {
      store.legs.update({ ...leg, status: 'ended', end_reason: reason, timestamp: { ...leg.timestamp, ended: now } }, now);
      const conversation = store.conversations.get(leg.conversation_id);
      if (conversation?.state !== 'active') return;
      if (leg.type === 'sip') {
        log.append({ conversation_id: leg.conversation_id, type: 'sip:hangup', from: leg.member_id, body: { leg_id: leg.id, cause: reason, by: 'system' } });
      } else {
        log.append({ conversation_id: leg.conversation_id, type: 'rtc:terminate', from: leg.member_id, body: { leg_id: leg.id, reason } });
      }
    });
  } catch (err) {
    ctx.logger.error({ err, leg_id: leg.id }, 'could not close a leg left over from the last run');
  }
}
