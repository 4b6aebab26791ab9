/**
 * The one catalogue of event types: each type's body schema and whether it is posted to the
 * Event webhook (as in the Vonage Conversation API event reference). Events are validated here
 * and nowhere else.
 */
import type { z } from 'zod';
import { describeIssues, type FieldIssue } from '../domain/validation.js';
import * as b from './bodies.js';

/** Every catalogued event type, in the order of the reference table. */
export const EVENT_TYPES = [
  'app:knocking:cancel',
  'app:knocking',
  'audio:dtmf',
  'audio:earmuff:off',
  'audio:earmuff:on',
  'audio:mute:off',
  'audio:mute:on',
  'audio:play:stop',
  'audio:play:done',
  'audio:play',
  'audio:record:stop',
  'audio:record:done',
  'audio:record',
  'audio:ringing:start',
  'audio:say:stop',
  'audio:say:done',
  'audio:say',
  'audio:speaking:on',
  'audio:speaking:off',
  'conversation:created',
  'conversation:deleted',
  'conversation:updated',
  'member:invited',
  'member:joined',
  'member:left',
  'member:media',
  'event:delete',
  'image:delivered',
  'image:seen',
  'image',
  'rtc:offer',
  'rtc:status',
  'rtc:transfer',
  'rtc:hangup',
  'rtc:answer',
  'rtc:terminate',
  'sip:status',
  'sip:answered',
  'sip:machine',
  'sip:hangup',
  'sip:ringing',
  'text:seen',
  'text:delivered',
  'text',
  'text:update',
  'text:typing:on',
  'text:typing:off',
  'video:mute:off',
  'video:mute:on',
] as const;

/** A catalogued event type. */
export type EventType = (typeof EVENT_TYPES)[number];

/** An application-defined event type, `custom:NAME`. */
export type CustomEventType = `custom:${string}`;

/** Any event type a conversation may carry. */
export type AnyEventType = EventType | CustomEventType;

/** One catalogue row. */
export interface CatalogueEntry {
  webhook: boolean;
  body: z.ZodType<Record<string, unknown>>;
}

/** Body schema and webhook flag for every catalogued type (`satisfies` keeps each schema's own type for `EventBody`). */
export const CATALOGUE = {
  'app:knocking:cancel': { webhook: false, body: b.knockingCancelBody },
  'app:knocking': { webhook: false, body: b.knockingBody },
  'audio:dtmf': { webhook: true, body: b.dtmfBody },
  'audio:earmuff:off': { webhook: true, body: b.legToggleBody },
  'audio:earmuff:on': { webhook: true, body: b.legToggleBody },
  'audio:mute:off': { webhook: true, body: b.legToggleBody },
  'audio:mute:on': { webhook: true, body: b.legToggleBody },
  'audio:play:stop': { webhook: true, body: b.playRefBody },
  'audio:play:done': { webhook: true, body: b.playRefBody },
  'audio:play': { webhook: true, body: b.playBody },
  'audio:record:stop': { webhook: true, body: b.recordStopBody },
  'audio:record:done': { webhook: true, body: b.recordDoneBody },
  'audio:record': { webhook: true, body: b.recordBody },
  'audio:ringing:start': { webhook: true, body: b.legToggleBody },
  'audio:say:stop': { webhook: true, body: b.sayRefBody },
  'audio:say:done': { webhook: true, body: b.sayRefBody },
  'audio:say': { webhook: true, body: b.sayBody },
  'audio:speaking:on': { webhook: false, body: b.legToggleBody },
  'audio:speaking:off': { webhook: false, body: b.legToggleBody },
  'conversation:created': { webhook: false, body: b.conversationBody },
  'conversation:deleted': { webhook: false, body: b.conversationDeletedBody },
  'conversation:updated': { webhook: false, body: b.conversationBody },
  'member:invited': { webhook: false, body: b.memberInvitedBody },
  'member:joined': { webhook: false, body: b.memberJoinedBody },
  'member:left': { webhook: false, body: b.memberLeftBody },
  'member:media': { webhook: false, body: b.memberMediaBody },
  'event:delete': { webhook: true, body: b.eventRefBody },
  'image:delivered': { webhook: true, body: b.eventRefBody },
  'image:seen': { webhook: true, body: b.eventRefBody },
  image: { webhook: true, body: b.imageBody },
  'rtc:offer': { webhook: false, body: b.rtcSdpBody },
  'rtc:status': { webhook: false, body: b.rtcStatusBody },
  'rtc:transfer': { webhook: false, body: b.rtcTransferBody },
  'rtc:hangup': { webhook: false, body: b.rtcHangupBody },
  'rtc:answer': { webhook: false, body: b.rtcSdpBody },
  'rtc:terminate': { webhook: false, body: b.rtcTerminateBody },
  'sip:status': { webhook: false, body: b.sipStatusBody },
  'sip:answered': { webhook: false, body: b.sipAnsweredBody },
  'sip:machine': { webhook: false, body: b.sipMachineBody },
  'sip:hangup': { webhook: false, body: b.sipHangupBody },
  'sip:ringing': { webhook: false, body: b.sipRingingBody },
  'text:seen': { webhook: true, body: b.eventRefBody },
  'text:delivered': { webhook: true, body: b.eventRefBody },
  text: { webhook: true, body: b.textBody },
  'text:update': { webhook: false, body: b.textUpdateBody },
  'text:typing:on': { webhook: true, body: b.emptyBody },
  'text:typing:off': { webhook: true, body: b.emptyBody },
  'video:mute:off': { webhook: true, body: b.legToggleBody },
  'video:mute:on': { webhook: true, body: b.legToggleBody },
} as const satisfies { readonly [T in EventType]: CatalogueEntry };

/** The parsed body of a catalogued event type. */
export type EventBody<T extends EventType> = z.infer<(typeof CATALOGUE)[T]['body']>;

/** Catalogued types a client may send itself (besides `custom:*`); the rest are the gateway's to create. */
export const CLIENT_SENDABLE_TYPES = [
  'text',
  'text:update',
  'text:typing:on',
  'text:typing:off',
  'text:seen',
  'text:delivered',
  'image',
  'image:seen',
  'image:delivered',
] as const satisfies readonly EventType[];

/** A catalogued type a client may send. */
export type ClientSendableType = (typeof CLIENT_SENDABLE_TYPES)[number];

/** Largest custom event body, in bytes of its JSON. */
export const CUSTOM_BODY_MAX_BYTES = 16_384;
/** Deepest nesting of a custom event body; the body object itself is level 1. */
export const CUSTOM_BODY_MAX_DEPTH = 10;

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const CLIENT_SENDABLE_SET: ReadonlySet<string> = new Set(CLIENT_SENDABLE_TYPES);
const CUSTOM_TYPE = /^custom:[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;

/** True when `s` is a catalogued event type. */
export function isEventType(s: string): s is EventType {
  return EVENT_TYPE_SET.has(s);
}

/** True when `s` is a well-formed `custom:NAME` type. */
export function isCustomEventType(s: string): s is CustomEventType {
  return CUSTOM_TYPE.test(s);
}

/** True when events of `type` go to the Event webhook; Vonage posts custom events, so `custom:*` does. */
export function isWebhookEvent(type: string): boolean {
  if (isEventType(type)) return CATALOGUE[type].webhook;
  return isCustomEventType(type);
}

/** True when a client may send an event of `type` itself. */
export function isClientSendable(type: string): type is ClientSendableType | CustomEventType {
  return CLIENT_SENDABLE_SET.has(type) || isCustomEventType(type);
}

/** Result of `parseEventBody`. */
export type ParsedEventBody =
  | { ok: true; type: AnyEventType; body: Record<string, unknown> }
  | { ok: false; code: 'UnknownEventType' | 'InvalidEventBody'; issues: FieldIssue[]; message: string };

/** Checks `body` against the schema for `type` (or the custom-event rules); never throws. */
export function parseEventBody(type: string, body: unknown): ParsedEventBody {
  if (isEventType(type)) {
    const schema: z.ZodType<Record<string, unknown>> = CATALOGUE[type].body;
    const result = schema.safeParse(body);
    if (result.success) return { ok: true, type, body: result.data };
    return invalid(type, describeIssues(result.error));
  }
  if (isCustomEventType(type)) {
    const issue = customBodyIssue(body);
    return issue ? invalid(type, [issue]) : { ok: true, type, body: body as Record<string, unknown> };
  }
  // Echo only a bounded prefix: the type came from the caller.
  const shown = JSON.stringify(type.slice(0, 120));
  return {
    ok: false,
    code: 'UnknownEventType',
    issues: [{ path: 'type', message: 'not a catalogued type or custom:NAME' }],
    message: `unknown event type ${shown}`,
  };
}

function invalid(type: AnyEventType, issues: FieldIssue[]): ParsedEventBody {
  const first = issues[0];
  return {
    ok: false,
    code: 'InvalidEventBody',
    issues,
    message: `invalid ${type} body${first ? `: ${first.path}: ${first.message}` : ''}`,
  };
}

// ── Custom event bodies ──────────────────────────────────────────────────────

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// TextEncoder rather than Buffer: the browser client shares this module's types.
const utf8 = new TextEncoder();

/** The first reason `body` is not an acceptable custom body, or undefined when it is. */
function customBodyIssue(body: unknown): FieldIssue | undefined {
  if (!isPlainObject(body)) return { path: '(root)', message: 'must be a JSON object' };
  const problem = jsonIssue(body, 1, []);
  if (problem) return problem;
  // Safe to serialise now: plain JSON, no cycles (a cycle would have exceeded the depth).
  if (utf8.encode(JSON.stringify(body)).byteLength > CUSTOM_BODY_MAX_BYTES) {
    return { path: '(root)', message: `must be at most ${CUSTOM_BODY_MAX_BYTES} bytes as JSON` };
  }
  return undefined;
}

/** Walks `value` (at nesting `depth`) and reports the first non-JSON value or over-deep container; recursion is bounded by the depth limit. */
function jsonIssue(value: unknown, depth: number, path: readonly string[]): FieldIssue | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  const at = path.join('.') || '(root)';
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { path: at, message: 'must be a finite number' };
  const isArray = Array.isArray(value);
  if (!isArray && !isPlainObject(value)) return { path: at, message: 'must be a JSON value' };
  if (depth > CUSTOM_BODY_MAX_DEPTH) return { path: at, message: `must nest at most ${CUSTOM_BODY_MAX_DEPTH} levels deep` };
  // Array.from visits holes (as undefined), so a sparse array is reported rather than silently nulled.
  const children: [string, unknown][] = isArray ? Array.from(value as unknown[], (v, i): [string, unknown] => [String(i), v]) : Object.entries(value);
  for (const [key, child] of children) {
    const problem = jsonIssue(child, depth + 1, [...path, key]);
    if (problem) return problem;
  }
  return undefined;
}
