/** One line that says what an event's body holds, with people's names in place of leg and member ids (both pages use it). */
import type { LegwayEvent } from '../client/index.js';
import { shortId } from './consoleDom.js';

/** Names for the ids an event body carries; undefined while not known. */
export interface SummaryNames {
  legMember(legId: string): string | undefined;
  memberName(memberId: string): string | undefined;
  conversationName(conversationId: string): string | undefined;
}

/** Who an event is about, and the rest of its body. */
export interface Summary {
  who: string;
  /** Set when `who` is a leg not known yet, so that it can be named later. */
  unnamedLeg?: string;
  rest: string;
}

/** Fields that say nothing at a glance (or are shown another way). */
const SKIPPED = new Set(['leg_id', 'member_id', 'user', 'sdp', 'timestamp', 'properties', 'id']);
const UUID = /^(?:[A-Z]{3}-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LONGEST = 200;

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function describeValue(value: unknown, names: SummaryNames): string {
  if (typeof value === 'string') {
    // A transfer's conversations read better by name.
    if (value.startsWith('CON-')) return names.conversationName(value) ?? shortId(value);
    return UUID.test(value) ? shortId(value) : clip(value, 60);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map((v) => describeValue(v, names)).join(',');
  return '';
}

/** `key=value` pairs; nested objects as `key.inner=value`, except all-flag objects (member:media's `media`), which list the flags that are on. */
function fields(key: string, value: unknown, names: SummaryNames): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${key}=${describeValue(value, names)}`];
  const entries = Object.entries(value);
  if (entries.every(([, v]) => typeof v === 'boolean'))
    return [
      `${key}=${
        entries
          .filter(([, v]) => v === true)
          .map(([k]) => k)
          .join('+') || 'none'
      }`,
    ];
  return entries.flatMap(([k, v]) => fields(`${key}.${k}`, v, names));
}

/** The summary of one event, e.g. who `alice`, rest `status=connected kind=ice`. */
export function summarise(event: LegwayEvent, names: SummaryNames): Summary {
  const body = event.body as Record<string, unknown>;
  const summary: Summary = { who: '', rest: '' };
  const legId = body.leg_id;
  const user = body.user;
  if (typeof legId === 'string') {
    const member = names.legMember(legId);
    summary.who = member ?? `leg ${shortId(legId)}`;
    if (member === undefined) summary.unnamedLeg = legId;
  } else if (typeof user === 'object' && user !== null && 'name' in user && typeof user.name === 'string') {
    summary.who = user.name;
  } else if (typeof body.member_id === 'string') {
    summary.who = names.memberName(body.member_id) ?? shortId(body.member_id);
  }
  const parts: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (SKIPPED.has(key) || value === undefined) continue;
    // member:joined's `state=joined` only repeats the type.
    if (key === 'state' && typeof value === 'string' && event.type.endsWith(`:${value}`)) continue;
    if (key === 'text' && typeof value === 'string') parts.push(`“${clip(value, 80)}”`);
    else parts.push(...fields(key, value, names));
  }
  summary.rest = clip(parts.join(' '), LONGEST);
  return summary;
}
