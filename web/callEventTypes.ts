/** Narrowing helpers for the conversation events the call page reads. */
import type { EventType, LegwayEvent } from '../client/index.js';

/** True when `event` is of catalogued type `type`, whose body is then typed. */
export function isOf<T extends EventType>(event: LegwayEvent, type: T): event is LegwayEvent<T> {
  return event.type === type;
}

/** A string field of an event's body, whatever the type (custom events included). */
export function bodyString(event: LegwayEvent, key: string): string | undefined {
  const value = (event.body as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}

/** Event types that end a leg for good. */
export const LEG_ENDINGS: ReadonlySet<string> = new Set(['rtc:hangup', 'rtc:terminate', 'sip:hangup']);
