import type { ConversationEvent } from '../domain/model.js';
import type { OutboxEntry } from '../store/outboxRepo.js';

/**
 * One webhook delivery to make: an event of a conversation's lane, or a parked delivery put back
 * (`seq`, its outbox row). Times are milliseconds since the epoch.
 */
export interface Delivery {
  conversation_id: string;
  event_id: number;
  /** The outbox row of a replayed delivery; undefined for a lane's event. */
  seq?: number;
  /** The exact bytes to POST. */
  payload: string;
  /** Attempts made so far. */
  attempts: number;
  /** When its retry window opened (it is given up on a while after this). */
  window_start: number;
  /** When it was queued: the event's commit, or the replay. */
  created_at: number;
}

/** A lane's event as it is delivered: the event as the log holds it, its window opening `now`. */
export function eventDelivery(event: ConversationEvent, now: number): Delivery {
  return {
    conversation_id: event.conversation_id,
    event_id: event.id,
    payload: JSON.stringify(event),
    attempts: 0,
    window_start: now,
    created_at: Date.parse(event.timestamp),
  };
}

/** A replayed delivery, from its outbox row. */
export function replayDelivery(row: OutboxEntry): Delivery {
  return {
    conversation_id: row.conversation_id,
    event_id: row.event_id,
    seq: row.seq,
    payload: row.payload,
    attempts: row.attempts,
    window_start: row.window_start,
    created_at: row.created_at,
  };
}
