import type { Logger } from 'pino';
import { SYSTEM_ORIGIN } from '../domain/model.js';
import type { AnyEventType } from '../events/catalogue.js';
import type { EventLog } from '../events/eventLog.js';
import type { Leg } from '../store/legsRepo.js';
import type { Store } from '../store/store.js';

/** A catalogue event a leg machine emitted (the shapes both leg machines share). */
export type LegEmitted =
  | { type: 'member:media'; body: { media: { audio: boolean; video: boolean; muted: boolean; earmuffed: boolean } } & Record<string, unknown> }
  | { type: 'rtc:transfer'; body: { leg_id: string; from_conversation_id: string; to_conversation_id: string } }
  | { type: AnyEventType; body: object };

/**
 * Appends what a leg's machine emitted to its conversation's log, from the leg's member, in one
 * transaction with what it implies: a transfer is also logged where the leg came from, and a
 * `member:media` updates the member. The machine built the body, so the log takes it without
 * parsing it again (the machines' tests check their bodies against the catalogue). A failure is
 * logged, never thrown into the machine.
 */
export function recordLegEvent(deps: { store: Store; log: EventLog; logger: Logger }, leg: Leg, emitted: LegEmitted): void {
  const { store, log } = deps;
  const body = emitted.body as Record<string, unknown>;
  const draft = { conversation_id: leg.conversation_id, type: emitted.type, from: leg.member_id, body };
  try {
    if (isTransfer(emitted)) {
      // A transfer is news on both sides: the old conversation hears where the leg went.
      log.appendBuilt([draft, { conversation_id: emitted.body.from_conversation_id, type: emitted.type, from: SYSTEM_ORIGIN, body }]);
    } else if (isMedia(emitted)) {
      store.transaction(() => {
        log.appendBuilt([draft]);
        store.members.setMedia(leg.member_id, emitted.body.media);
      });
    } else {
      log.appendBuilt([draft]);
    }
  } catch (err) {
    deps.logger.error({ err, leg_id: leg.id, type: emitted.type }, 'could not record leg event');
  }
}

function isTransfer(e: LegEmitted): e is Extract<LegEmitted, { type: 'rtc:transfer' }> {
  return e.type === 'rtc:transfer';
}

function isMedia(e: LegEmitted): e is Extract<LegEmitted, { type: 'member:media' }> {
  return e.type === 'member:media';
}
