import type { AnyEventType, EventBody, EventType } from '../src/events/catalogue.js';

export type { AnyEventType, EventType };

/** An event of the conversation's log, as the gateway pushes it (`body` typed by `type`). */
export interface LegwayEvent<T extends AnyEventType = AnyEventType> {
  id: number;
  type: T;
  /** The member that caused it, or `system`. */
  from: string;
  to?: string;
  timestamp: string;
  body: T extends EventType ? EventBody<T> : Record<string, unknown>;
  conversation_id: string;
  deleted_at?: string;
}

/** Listener of one event type. */
export type EventListener<T extends AnyEventType> = (event: LegwayEvent<T>) => void;

/** True when a pushed payload has the event envelope's shape. */
export function isEventEnvelope(value: unknown): value is LegwayEvent {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.id === 'number' && typeof v.type === 'string' && typeof v.conversation_id === 'string' && typeof v.body === 'object';
}
