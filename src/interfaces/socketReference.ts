import { z } from 'zod';
import { CATALOGUE, EVENT_TYPES, type AnyEventType } from '../events/catalogue.js';
import { ID_PATTERNS } from '../lib/ids.js';
import * as operator from './socket/operatorProtocol.js';
import * as client from './socket/protocol.js';

/**
 * The socket.io protocol's reference (docs/socket-protocol.md), generated from the zod schemas the
 * handlers validate with and from the event catalogue, so that it cannot drift from them.
 */

/** One request: its payload schema, and what a successful acknowledgement carries besides `ok`. */
export interface RequestDoc {
  summary: string;
  payload: z.ZodType;
  answer: string;
}

/** Every client-namespace request (`satisfies` fails the build when one is added without its entry). */
export const CLIENT_REQUESTS = {
  'conversation:join': {
    summary: 'Join a conversation as the token’s user; then every event after `since` is pushed in id order, then live ones.',
    payload: client.joinRequest,
    answer: '`member_id`, `conversation_id`, `since` (where the replay starts)',
  },
  'conversation:leave': { summary: 'Leave a conversation.', payload: client.leaveRequest, answer: '`member_id`' },
  'event:send': {
    summary: 'Send an event: text, text:update, text:typing:on/off, text:seen, text:delivered, image, image:seen, image:delivered or custom:NAME.',
    payload: client.sendRequest,
    answer: '`event` (as logged)',
  },
  'rtc:new': { summary: 'Start a WebRTC leg with an SDP offer.', payload: client.rtcNewRequest, answer: '`leg_id`, `answer` `{ type, sdp }`' },
  'rtc:ice': { summary: 'A trickled ICE candidate (`null`: gathering is over).', payload: client.rtcIceRequest, answer: 'nothing more' },
  'rtc:answer': { summary: 'The answer to the gateway’s renegotiation `rtc:offer`.', payload: client.rtcAnswerRequest, answer: '`leg_id`' },
  'conversation:knock': {
    summary: 'Ask to be let into a conversation one is not a member of; the answer comes as `knocking:answer`.',
    payload: client.knockRequest,
    answer: '`knocking_id`, `conversation_id`',
  },
  'conversation:knock:cancel': { summary: 'Stop knocking.', payload: client.knockCancelRequest, answer: '`knocking_id`' },
  'rtc:hangup': { summary: 'Hang up one’s own leg.', payload: client.legRequest, answer: '`leg_id`' },
  'leg:mute': { summary: 'Mute (`on: true`) or unmute one’s own leg.', payload: client.legToggleRequest, answer: '`leg_id`, `media`' },
  'leg:earmuff': { summary: 'Earmuff or unearmuff one’s own leg.', payload: client.legToggleRequest, answer: '`leg_id`, `media`' },
  'leg:video-mute': { summary: 'Stop or resume forwarding one’s own video.', payload: client.legToggleRequest, answer: '`leg_id`, `media`' },
  'leg:dtmf': { summary: 'Send DTMF digits into the conversation from one’s own leg.', payload: client.legDtmfRequest, answer: '`leg_id`' },
} as const satisfies Record<keyof client.ClientToServerEvents, RequestDoc>;

/** Every operator-namespace request. */
export const OPERATOR_REQUESTS = {
  'conversation:list': {
    summary: `List conversations, oldest first, ${operator.CONVERSATION_PAGE.default} a page by default.`,
    payload: operator.conversationListRequest,
    answer: '`conversations` (each with `member_count`, `members`, `leg_count`), `next_cursor` when there are more',
  },
  'leg:list': { summary: 'Legs running now, in every conversation or in one.', payload: operator.legListRequest, answer: '`legs`' },
  watch: {
    summary: 'Receive every event of all conversations, or of those named; then they are pushed in commit order.',
    payload: operator.watchRequest,
    answer: '`watching`: `"all"` or the conversation ids',
  },
  unwatch: { summary: 'Stop watching.', payload: operator.unwatchRequest, answer: 'nothing more' },
  'leg:action': {
    summary:
      'Act on any leg: mute, unmute, earmuff, unearmuff, video-mute, video-unmute, hangup, transfer, play, play:stop, say, say:stop, record, record:stop, dtmf.',
    payload: operator.legActionRequest,
    answer: '`leg` (toggles, hangup, transfer), `play_id`, `say_id`, `recording_id` (and `split`), `stopped` (ids), or nothing more (dtmf)',
  },
  'knocking:list': { summary: 'Users knocking, waiting to be let in.', payload: operator.knockingListRequest, answer: '`knockings`' },
  'knocking:answer': {
    summary: 'Admit (as a joined member) or refuse a knocking user.',
    payload: operator.knockingAnswerRequest,
    answer: '`knocking_id`, `conversation_id`, `admitted`, `member_id` when admitted',
  },
} as const satisfies Record<keyof operator.OperatorToServerEvents, RequestDoc>;

/** Pushes that are not conversation events (`satisfies` keeps the list whole). */
export const OTHER_PUSHES = {
  'knocking:answer': {
    summary: 'To a knocking client: its knock was answered.',
    payload: z.strictObject({ knocking_id: z.uuid(), conversation_id: z.string(), admitted: z.boolean(), member_id: z.string().optional() }),
  },
} as const satisfies Record<Exclude<keyof client.ServerToClientEvents, AnyEventType>, { summary: string; payload: z.ZodType }>;

/** The renegotiation `rtc:offer` a leg's own client gets (besides the `rtc:offer` event). */
const RENEGOTIATION = z.strictObject({ leg_id: z.uuid(), offer: z.strictObject({ type: z.literal('offer'), sdp: z.string() }) });

type Json = Record<string, unknown>;

/** Patterns shown by name: what they stand for is clearer than the regular expression. */
const NAMED_PATTERNS = new Map<string, string>([
  [ID_PATTERNS.leg.source, 'UUID'],
  [ID_PATTERNS.conversation.source, 'conversation id (`CON-<uuid>`)'],
  [ID_PATTERNS.member.source, 'member id (`MEM-<uuid>`)'],
  [ID_PATTERNS.user.source, 'user id (`USR-<uuid>`)'],
  ['^CON-[0-9a-f-]{36}$', 'conversation id (`CON-<uuid>`)'],
  ['^MEM-[0-9a-f-]{36}$', 'member id (`MEM-<uuid>`)'],
  ['^USR-[0-9a-f-]{36}$', 'user id (`USR-<uuid>`)'],
]);

/** A short type for a JSON schema node: `string (1–200)`, `"a" | "b"`, `integer ≥ 0`, … */
function typeOf(node: Json): string {
  if ('const' in node) return JSON.stringify(node.const);
  if (Array.isArray(node.enum)) return node.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  const union = (node.anyOf ?? node.oneOf) as Json[] | undefined;
  if (union) return union.map(typeOf).join(' or ');
  // Bounds as numbers; zod's safe-integer bounds of a plain `int()` say nothing worth showing.
  const bound = (v: unknown): number | undefined => (typeof v === 'number' && Math.abs(v) < Number.MAX_SAFE_INTEGER ? v : undefined);
  const range = (low: unknown, high: unknown, unit = ''): string => {
    const [min, max] = [bound(low), bound(high)];
    if (min === undefined && max === undefined) return '';
    if (min !== undefined && max !== undefined) return min === max ? ` (${min}${unit})` : ` (${min}–${max}${unit})`;
    return min !== undefined ? ` (≥ ${min}${unit})` : ` (≤ ${max ?? ''}${unit})`;
  };
  switch (node.type) {
    case 'string': {
      if (typeof node.format === 'string') return node.format === 'uuid' ? 'UUID' : `string (${node.format})`;
      const named = typeof node.pattern === 'string' ? NAMED_PATTERNS.get(node.pattern) : undefined;
      if (named) return named;
      const pattern = typeof node.pattern === 'string' ? ` matching \`${node.pattern.replaceAll('|', '\\|')}\`` : '';
      return `string${range(node.minLength, node.maxLength, ' chars')}${pattern}`;
    }
    case 'integer':
    case 'number': {
      // zod writes `positive()` as an exclusive minimum of 0: for an integer, that is a minimum of 1.
      const exclusive = typeof node.exclusiveMinimum === 'number' && node.type === 'integer' ? node.exclusiveMinimum + 1 : node.exclusiveMinimum;
      return `${node.type}${range(node.minimum ?? exclusive, node.maximum)}`;
    }
    case 'array':
      return `array${range(node.minItems, node.maxItems, ' items')} of ${typeOf((node.items ?? {}) as Json)}`;
    case 'object':
      return 'object';
    case 'boolean':
    case 'null':
      return node.type;
    default:
      return 'any JSON value';
  }
}

/** Table rows `| field | type | required | notes |` of an object schema, nested objects flattened. */
function rows(node: Json, prefix = ''): string[] {
  const properties = (node.properties ?? {}) as Record<string, Json>;
  const required = new Set((node.required ?? []) as string[]);
  const out: string[] = [];
  for (const [name, child] of Object.entries(properties)) {
    const path = `${prefix}${name}`;
    const notes = [typeof child.description === 'string' ? child.description : '', 'default' in child ? `default ${JSON.stringify(child.default)}` : '']
      .filter(Boolean)
      .join('; ');
    out.push(`| \`${path}\` | ${typeOf(child)} | ${required.has(name) ? 'yes' : 'no'} | ${notes} |`);
    // A nested object, or the object of an `object or null`, gets rows of its own.
    const object = [child, ...((child.anyOf ?? []) as Json[])].find((n) => n.type === 'object' && n.properties);
    if (object) out.push(...rows(object, `${path}.`));
  }
  return out;
}

/** The payload of a schema as markdown: a field table per object (per variant for unions). */
function payloadTable(schema: z.ZodType): string[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  const variants = ((json.anyOf ?? json.oneOf) as Json[] | undefined)?.filter((v) => v.type !== 'null');
  const nullable = variants !== undefined && variants.length < ((json.anyOf ?? json.oneOf) as Json[]).length;
  const out: string[] = [];
  if (nullable) out.push('The payload may be left out (or `null`).', '');
  if (!variants || variants.length === 1) {
    const fields = rows(variants?.[0] ?? json);
    out.push(...(fields.length === 0 ? ['No fields (`{}`).'] : ['| field | type | required | notes |', '|---|---|---|---|', ...fields]), '');
    return out;
  }
  // A discriminated union: variants with the same other fields share one table.
  const groups = new Map<string, { tag: string; values: unknown[]; others: string[] }>();
  for (const variant of variants) {
    const [tag, value] = Object.entries((variant.properties ?? {}) as Record<string, Json>).find(([, p]) => 'const' in p) ?? ['', { const: '?' }];
    const others = rows(variant).filter((row) => !row.startsWith(`| \`${tag}\``));
    const group = groups.get(others.join('\n'));
    if (group) group.values.push(value.const);
    else groups.set(others.join('\n'), { tag, values: [value.const], others });
  }
  for (const { tag, values, others } of groups.values()) {
    const shown = values.map((v) => JSON.stringify(v)).join(' \\| ');
    out.push(`With \`${tag}\` ${values.length === 1 ? '' : 'one of '}${shown}:`, '');
    out.push('| field | type | required | notes |', '|---|---|---|---|', `| \`${tag}\` | ${shown} | yes |  |`, ...others, '');
  }
  return out;
}

function requestSection(name: string, doc: RequestDoc): string[] {
  return [`### \`${name}\``, '', doc.summary, '', ...payloadTable(doc.payload), `Acknowledgement: \`{ ok: true }\` with ${doc.answer}.`, ''];
}

/** docs/socket-protocol.md, whole. */
export function socketReference(): string {
  const lines = [
    '# Socket protocol reference',
    '',
    "<!-- Generated from the socket handlers' zod schemas and the event catalogue by `npm run docs:socket`; do not edit. -->",
    '',
    'legway speaks socket.io. Connect with `io(url, { auth: { token } })` to the client namespace `/`, or to `/operator` with an',
    'operator token. A missing, expired or wrongly signed token (or a non-operator token on `/operator`) fails the handshake:',
    '`connect_error` with a message that names the reason and `data.code`.',
    '',
    'Every request is an emit with an acknowledgement: `{ ok: true, ... }` or `{ ok: false, error: { code, message } }`.',
    'A payload that fails its schema is refused with `ValidationFailed` (client namespace) or `BadRequest` (`/operator`) and',
    'changes nothing; a request name not listed here is refused with `UnknownRequest`; too many requests with `RateLimited`.',
    'The REST API is described by `GET /openapi.json`.',
    '',
    '## Client namespace `/`',
    '',
    ...Object.entries(CLIENT_REQUESTS).flatMap(([name, doc]) => requestSection(name, doc)),
    '## Operator namespace `/operator`',
    '',
    ...Object.entries(OPERATOR_REQUESTS).flatMap(([name, doc]) => requestSection(name, doc)),
    '## Pushed events',
    '',
    "Each event of a joined (or watched) conversation is pushed under its own type name (`socket.on('text', (e) => …)`),",
    'the payload being the event `{ id, type, from, to?, timestamp, body, conversation_id }`; `id` grows by one inside its',
    'conversation. "Webhook" says whether the event is also posted to the event webhook. Applications may send',
    '`custom:NAME` events (a JSON object body of at most 16 KB), which are pushed and posted too.',
    '',
    '| type | webhook |',
    '|---|---|',
    ...EVENT_TYPES.map((type) => `| [\`${type}\`](#${type.replaceAll(':', '')}) | ${CATALOGUE[type].webhook ? 'yes' : 'no'} |`),
    '| `custom:NAME` | yes |',
    '',
    ...EVENT_TYPES.flatMap((type) => [`### \`${type}\``, '', 'Body:', '', ...payloadTable(CATALOGUE[type].body)]),
    '## Other pushes',
    '',
    '### `rtc:offer` (renegotiation)',
    '',
    'Besides the `rtc:offer` event, the client that owns a leg gets the gateway’s own offer when the leg is renegotiated',
    '(video added, for example), and answers it with `rtc:answer`:',
    '',
    ...payloadTable(RENEGOTIATION),
    ...Object.entries(OTHER_PUSHES).flatMap(([name, push]) => [`### \`${name}\``, '', push.summary, '', ...payloadTable(push.payload)]),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}
