import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  CATALOGUE,
  CLIENT_SENDABLE_TYPES,
  EVENT_TYPES,
  isClientSendable,
  isCustomEventType,
  isEventType,
  isWebhookEvent,
  parseEventBody,
  type EventBody,
  type EventType,
} from '../../src/events/catalogue.js';

/** "Posted to Event webhook", as the event reference lists it (README, Events). */
const WEBHOOK_FLAGS: Record<string, boolean> = {
  'app:knocking:cancel': false,
  'app:knocking': false,
  'audio:dtmf': true,
  'audio:earmuff:off': true,
  'audio:earmuff:on': true,
  'audio:mute:off': true,
  'audio:mute:on': true,
  'audio:play:stop': true,
  'audio:play:done': true,
  'audio:play': true,
  'audio:record:stop': true,
  'audio:record:done': true,
  'audio:record': true,
  'audio:ringing:start': true,
  'audio:say:stop': true,
  'audio:say:done': true,
  'audio:say': true,
  'audio:speaking:on': false,
  'audio:speaking:off': false,
  'conversation:created': false,
  'conversation:deleted': false,
  'conversation:updated': false,
  'member:invited': false,
  'member:joined': false,
  'member:left': false,
  'member:media': false,
  'event:delete': true,
  'image:delivered': true,
  'image:seen': true,
  image: true,
  'rtc:offer': false,
  'rtc:status': false,
  'rtc:transfer': false,
  'rtc:hangup': false,
  'rtc:answer': false,
  'rtc:terminate': false,
  'sip:status': false,
  'sip:answered': false,
  'sip:machine': false,
  'sip:hangup': false,
  'sip:ringing': false,
  'text:seen': true,
  'text:delivered': true,
  text: true,
  'text:update': false,
  'text:typing:on': true,
  'text:typing:off': true,
  'video:mute:off': true,
  'video:mute:on': true,
};

const UUID = '3f1c2a4e-8b5d-4c6e-9f0a-1b2c3d4e5f60';
const UUID2 = 'a2b4c6d8-1e3f-4a5b-8c7d-9e0f1a2b3c4d';
const LEG = UUID;
const MEM = `MEM-${UUID}`;
const CON = `CON-${UUID}`;
const CON2 = `CON-${UUID2}`;
const USR = `USR-${UUID}`;
const TS = '2024-05-01T12:00:00.000Z';

const conversation = {
  id: CON,
  name: 'support',
  display_name: 'Support line',
  state: 'active',
  properties: { ttl: 3600, custom_data: { team: 'blue' } },
  timestamp: { created: TS, updated: TS },
} as const;

function member<S extends 'invited' | 'joined' | 'left'>(state: S) {
  return {
    member_id: MEM,
    user: { id: USR, name: 'alice', display_name: 'Alice' },
    channel: { type: 'app', from: 'alice', to: 'bob' },
    state,
    timestamp: { [state]: TS },
    initiator: 'system',
  } as const;
}

const memberInvalid: [string, unknown][] = [
  ['wrong state', { ...member('invited'), state: 'joined' }],
  ['bad channel type', { ...member('invited'), channel: { type: 'pigeon' } }],
  ['bad member id', { ...member('invited'), member_id: 'MEM-nope' }],
];
const toggleInvalid: [string, unknown][] = [
  ['missing leg_id', {}],
  ['leg_id not a uuid', { leg_id: 'leg-1' }],
  ['extra key', { leg_id: LEG, muted: true }],
];
const eventRefInvalid: [string, unknown][] = [
  ['missing event_id', {}],
  ['event_id zero', { event_id: 0 }],
  ['event_id not an integer', { event_id: 1.5 }],
  ['event_id a string', { event_id: '7' }],
];
const sdpInvalid: [string, unknown][] = [
  ['missing leg_id', { sdp: 'v=0' }],
  ['sdp too long', { leg_id: LEG, sdp: 'x'.repeat(65_537) }],
];

/** One valid body (typed, so the compiler checks it against the schema's type) and some invalid ones per type. */
const FIXTURES: { [T in EventType]: { valid: EventBody<T>; invalid: [string, unknown][] } } = {
  'app:knocking:cancel': { valid: { knocking_id: UUID }, invalid: [['knocking_id not a uuid', { knocking_id: 'k1' }]] },
  'app:knocking': {
    valid: { knocking_id: UUID, user: { id: USR, name: 'alice' }, conversation_name: 'support' },
    invalid: [
      ['missing user', { knocking_id: UUID }],
      ['bad user id', { knocking_id: UUID, user: { id: 'alice', name: 'alice' } }],
    ],
  },
  'audio:dtmf': {
    valid: { leg_id: LEG, digit: '#', duration: 120, method: 'rfc4733' },
    invalid: [
      ['two digits', { leg_id: LEG, digit: '12', duration: 120, method: 'rfc4733' }],
      ['digit E', { leg_id: LEG, digit: 'E', duration: 120, method: 'rfc4733' }],
      ['duration too long', { leg_id: LEG, digit: '1', duration: 60_001, method: 'rfc4733' }],
      ['unknown method', { leg_id: LEG, digit: '1', duration: 100, method: 'smoke' }],
    ],
  },
  'audio:earmuff:off': { valid: { leg_id: LEG }, invalid: toggleInvalid },
  'audio:earmuff:on': { valid: { leg_id: LEG, initiator: MEM }, invalid: toggleInvalid },
  'audio:mute:off': { valid: { leg_id: LEG }, invalid: toggleInvalid },
  'audio:mute:on': { valid: { leg_id: LEG, initiator: MEM }, invalid: toggleInvalid },
  'audio:play:stop': { valid: { play_id: UUID, leg_id: LEG }, invalid: [['missing play_id', { leg_id: LEG }]] },
  'audio:play:done': { valid: { play_id: UUID }, invalid: [['extra key', { play_id: UUID, done: true }]] },
  'audio:play': {
    valid: { play_id: UUID, leg_id: LEG, stream_url: ['https://example.com/a.mp3'], loop: 1, level: 0.5 },
    invalid: [
      ['empty stream_url', { play_id: UUID, stream_url: [], loop: 1, level: 0 }],
      ['eleven stream urls', { play_id: UUID, stream_url: Array<string>(11).fill('https://a.b/c'), loop: 1, level: 0 }],
      ['level above 1', { play_id: UUID, stream_url: ['https://a.b/c'], loop: 1, level: 1.5 }],
      ['loop too big', { play_id: UUID, stream_url: ['https://a.b/c'], loop: 1001, level: 0 }],
    ],
  },
  'audio:record:stop': { valid: { recording_id: UUID }, invalid: [['recording_id a number', { recording_id: 1 }]] },
  'audio:record:done': {
    valid: {
      recording_id: UUID,
      leg_id: LEG,
      url: 'https://example.com/rec.wav',
      format: 'wav',
      duration: 12.5,
      size: 200_000,
      start_time: TS,
      end_time: TS,
    },
    invalid: [
      ['negative duration', { recording_id: UUID, url: 'u', format: 'wav', duration: -1, size: 0 }],
      ['missing size', { recording_id: UUID, url: 'u', format: 'wav', duration: 1 }],
      ['bad start_time', { recording_id: UUID, url: 'u', format: 'wav', duration: 1, size: 0, start_time: 'yesterday' }],
    ],
  },
  'audio:record': {
    valid: { recording_id: UUID, format: 'ogg' },
    invalid: [['format mp3', { recording_id: UUID, format: 'mp3' }]],
  },
  'audio:ringing:start': { valid: { leg_id: LEG }, invalid: toggleInvalid },
  'audio:say:stop': { valid: { say_id: UUID, leg_id: LEG }, invalid: [['missing say_id', { leg_id: LEG }]] },
  'audio:say:done': { valid: { say_id: UUID }, invalid: [['say_id not a uuid', { say_id: 'x' }]] },
  'audio:say': {
    valid: { say_id: UUID, text: 'Hello', language: 'en-GB', loop: 1, level: 0 },
    invalid: [
      ['empty text', { say_id: UUID, text: '', language: 'en-GB', loop: 1, level: 0 }],
      ['language too long', { say_id: UUID, text: 'hi', language: 'x'.repeat(36), loop: 1, level: 0 }],
      ['level below -1', { say_id: UUID, text: 'hi', language: 'en', loop: 1, level: -2 }],
    ],
  },
  'audio:speaking:on': { valid: { leg_id: LEG }, invalid: toggleInvalid },
  'audio:speaking:off': { valid: { leg_id: LEG }, invalid: toggleInvalid },
  'conversation:created': {
    valid: conversation,
    invalid: [
      ['bad state', { ...conversation, state: 'paused' }],
      ['ttl above a year', { ...conversation, properties: { ttl: 31_536_001 } }],
      ['missing created', { ...conversation, timestamp: {} }],
      ['extra key', { ...conversation, owner: 'me' }],
    ],
  },
  'conversation:deleted': {
    valid: { id: CON, name: 'support', timestamp: { destroyed: TS } },
    invalid: [
      ['missing destroyed', { id: CON, name: 'support', timestamp: {} }],
      ['empty name', { id: CON, name: '', timestamp: { destroyed: TS } }],
    ],
  },
  'conversation:updated': {
    valid: { ...conversation, properties: {} },
    invalid: [
      ['bad id', { ...conversation, id: 'support' }],
      ['name too long', { ...conversation, name: 'n'.repeat(201) }],
    ],
  },
  'member:invited': { valid: member('invited'), invalid: memberInvalid },
  'member:joined': {
    valid: member('joined'),
    invalid: [['state invited', { ...member('joined'), state: 'invited' }]],
  },
  'member:left': {
    valid: { ...member('left'), reason: 'hung up' },
    invalid: [
      ['state joined', { ...member('left'), state: 'joined' }],
      ['missing user', { ...member('left'), user: undefined }],
    ],
  },
  'member:media': {
    valid: { member_id: MEM, leg_id: LEG, media: { audio: true, video: false, muted: false, earmuffed: false } },
    invalid: [
      ['missing earmuffed', { member_id: MEM, media: { audio: true, video: false, muted: false } }],
      ['audio a string', { member_id: MEM, media: { audio: 'yes', video: false, muted: false, earmuffed: false } }],
    ],
  },
  'event:delete': { valid: { event_id: 42 }, invalid: eventRefInvalid },
  'image:delivered': { valid: { event_id: 42 }, invalid: eventRefInvalid },
  'image:seen': { valid: { event_id: 42 }, invalid: eventRefInvalid },
  image: {
    valid: {
      representations: {
        original: { url: 'https://cdn.example.com/i.png', id: 'img1', type: 'image/png', size: 1024 },
        thumbnail: { url: 'http://cdn.example.com/t.png' },
      },
    },
    invalid: [
      ['javascript: url', { representations: { original: { url: 'javascript:alert(1)' } } }],
      ['data: url', { representations: { original: { url: 'data:image/png;base64,AAAA' } } }],
      ['ftp: url', { representations: { original: { url: 'ftp://example.com/i.png' } } }],
      ['missing original', { representations: { medium: { url: 'https://a.example/i.png' } } }],
      ['negative size', { representations: { original: { url: 'https://a.example/i.png', size: -1 } } }],
      ['url too long', { representations: { original: { url: `https://a.example/${'x'.repeat(2048)}` } } }],
    ],
  },
  'rtc:offer': { valid: { leg_id: LEG, sdp: 'v=0\r\n' }, invalid: sdpInvalid },
  'rtc:status': {
    valid: { leg_id: LEG, status: 'connected', kind: 'ice' },
    invalid: [
      ['empty status', { leg_id: LEG, status: '' }],
      ['unknown kind', { leg_id: LEG, status: 'ok', kind: 'sctp' }],
    ],
  },
  'rtc:transfer': {
    valid: { leg_id: LEG, from_conversation_id: CON, to_conversation_id: CON2 },
    invalid: [['missing to', { leg_id: LEG, from_conversation_id: CON }]],
  },
  'rtc:hangup': { valid: { leg_id: LEG, reason: 'bye' }, invalid: [['reason too long', { leg_id: LEG, reason: 'r'.repeat(201) }]] },
  'rtc:answer': { valid: { leg_id: LEG }, invalid: sdpInvalid },
  'rtc:terminate': { valid: { leg_id: LEG, reason: 'timeout' }, invalid: [['missing reason', { leg_id: LEG }]] },
  'sip:status': {
    valid: { leg_id: LEG, code: 486, reason: 'Busy Here', direction: 'outbound' },
    invalid: [
      ['code 99', { leg_id: LEG, code: 99, reason: 'x' }],
      ['code 700', { leg_id: LEG, code: 700, reason: 'x' }],
      ['missing reason', { leg_id: LEG, code: 200 }],
    ],
  },
  'sip:answered': { valid: { leg_id: LEG, direction: 'inbound' }, invalid: [['bad direction', { leg_id: LEG, direction: 'sideways' }]] },
  'sip:machine': {
    valid: { leg_id: LEG, type: 'machine', confidence: 0.9 },
    invalid: [
      ['confidence above 1', { leg_id: LEG, type: 'human', confidence: 1.1 }],
      ['unknown type', { leg_id: LEG, type: 'fax', confidence: 0.5 }],
    ],
  },
  'sip:hangup': {
    valid: { leg_id: LEG, cause: 'normal_clearing', by: 'remote', code: 200, reason: 'OK' },
    invalid: [
      ['empty cause', { leg_id: LEG, cause: '', by: 'remote' }],
      ['unknown by', { leg_id: LEG, cause: 'x', by: 'alien' }],
    ],
  },
  'sip:ringing': { valid: { leg_id: LEG, code: 183 }, invalid: [['code 181', { leg_id: LEG, code: 181 }]] },
  'text:seen': { valid: { event_id: 1 }, invalid: eventRefInvalid },
  'text:delivered': { valid: { event_id: Number.MAX_SAFE_INTEGER }, invalid: eventRefInvalid },
  text: {
    valid: { text: 'hello' },
    invalid: [
      ['empty text', { text: '' }],
      ['text too long', { text: 't'.repeat(4097) }],
      ['text a number', { text: 5 }],
      ['extra key', { text: 'hi', html: '<b>hi</b>' }],
      ['not an object', 'hello'],
    ],
  },
  'text:update': {
    valid: { event_id: 3, text: 'edited' },
    invalid: [
      ['missing event_id', { text: 'edited' }],
      ['missing text', { event_id: 3 }],
    ],
  },
  'text:typing:on': {
    valid: {},
    invalid: [
      ['any key', { typing: true }],
      ['null', null],
    ],
  },
  'text:typing:off': {
    valid: {},
    invalid: [
      ['any key', { typing: false }],
      ['array', []],
    ],
  },
  'video:mute:off': { valid: { leg_id: LEG }, invalid: toggleInvalid },
  'video:mute:on': { valid: { leg_id: LEG }, invalid: toggleInvalid },
};

const fixtureRows = EVENT_TYPES.map((type) => ({ type, ...FIXTURES[type] }));

describe('event catalogue', () => {
  it('has exactly the 49 types of the event reference, each once', () => {
    expect(EVENT_TYPES).toHaveLength(49);
    expect(new Set(EVENT_TYPES).size).toBe(49);
    expect([...EVENT_TYPES].sort()).toEqual(Object.keys(WEBHOOK_FLAGS).sort());
    expect(Object.keys(CATALOGUE).sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('posts to the webhook exactly the types the reference says', () => {
    const flags = Object.fromEntries(EVENT_TYPES.map((t) => [t, CATALOGUE[t].webhook]));
    expect(flags).toEqual(WEBHOOK_FLAGS);
  });

  it('infers body types from the schemas', () => {
    expectTypeOf<EventBody<'text'>>().toEqualTypeOf<{ text: string }>();
    expectTypeOf<EventBody<'sip:ringing'>['code']>().toEqualTypeOf<180 | 183>();
    expectTypeOf<EventBody<'member:left'>['state']>().toEqualTypeOf<'left'>();
  });
});

describe.each(fixtureRows)('$type body', ({ type, valid, invalid }) => {
  it('accepts a valid body', () => {
    const result = parseEventBody(type, valid);
    expect(result).toEqual({ ok: true, type, body: valid });
  });

  it('has at least one invalid fixture', () => {
    expect(invalid.length).toBeGreaterThan(0);
  });

  it.each(invalid)('rejects %s', (_label, body) => {
    const result = parseEventBody(type, body);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('InvalidEventBody');
    expect(result.issues.length).toBeGreaterThan(0);
    expect(result.message).toContain(type);
  });
});

describe('parseEventBody edge cases', () => {
  it('reports an unknown type as UnknownEventType', () => {
    const result = parseEventBody('text:shout', { text: 'hi' });
    expect(result).toMatchObject({ ok: false, code: 'UnknownEventType' });
  });

  it('keeps the message short for a huge unknown type', () => {
    const result = parseEventBody('x'.repeat(10_000), {});
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message.length).toBeLessThan(200);
  });

  it('rejects a javascript: image URL with a path to the field', () => {
    const result = parseEventBody('image', { representations: { original: { url: 'javascript:alert(1)' } } });
    expect(result).toMatchObject({ ok: false, code: 'InvalidEventBody' });
    if (!result.ok) expect(result.issues[0]?.path).toBe('representations.original.url');
  });
});

describe('custom events', () => {
  it('accepts a JSON object', () => {
    const body = { score: 3, tags: ['a', 'b'], nested: { ok: true, none: null } };
    expect(parseEventBody('custom:game.score', body)).toEqual({ ok: true, type: 'custom:game.score', body });
  });

  it.each([
    ['a string', 'hello'],
    ['an array', [1, 2]],
    ['null', null],
    ['a number', 7],
    ['a class instance', new Date()],
    ['an object holding undefined', { a: undefined }],
    ['an object holding a function', { f: () => 1 }],
    ['an object holding NaN', { n: Number.NaN }],
  ])('rejects %s', (_label, body) => {
    expect(parseEventBody('custom:foo', body)).toMatchObject({ ok: false, code: 'InvalidEventBody' });
  });

  it('rejects a 20 KB object and accepts one just under the limit', () => {
    expect(parseEventBody('custom:foo', { blob: 'x'.repeat(20_000) })).toMatchObject({ ok: false, code: 'InvalidEventBody' });
    // {"blob":"…"} adds 11 bytes of JSON around the string.
    expect(parseEventBody('custom:foo', { blob: 'x'.repeat(16_384 - 11) }).ok).toBe(true);
    expect(parseEventBody('custom:foo', { blob: 'x'.repeat(16_384 - 10) }).ok).toBe(false);
  });

  it('counts bytes, not characters', () => {
    expect(parseEventBody('custom:foo', { s: 'é'.repeat(9000) }).ok).toBe(false);
  });

  it('allows 10 levels of nesting and rejects 11', () => {
    const nest = (levels: number): Record<string, unknown> => (levels === 1 ? { leaf: 1 } : { n: nest(levels - 1) });
    expect(parseEventBody('custom:foo', nest(10)).ok).toBe(true);
    const deep = parseEventBody('custom:foo', nest(11));
    expect(deep).toMatchObject({ ok: false, code: 'InvalidEventBody' });
  });

  it('rejects a cyclic object without throwing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(parseEventBody('custom:foo', cyclic)).toMatchObject({ ok: false, code: 'InvalidEventBody' });
  });

  it.each(['custom:', 'custom:a b', 'custom:_x', 'custom:é', `custom:${'a'.repeat(101)}`, 'custom'])('treats %j as an unknown type', (type) => {
    expect(isCustomEventType(type)).toBe(false);
    expect(parseEventBody(type, {})).toMatchObject({ ok: false, code: 'UnknownEventType' });
  });

  it.each(['custom:a', 'custom:my-app.v2:score_1', `custom:${'a'.repeat(100)}`])('accepts the name %j', (type) => {
    expect(isCustomEventType(type)).toBe(true);
  });
});

describe('type guards', () => {
  it('isEventType knows catalogued types only', () => {
    expect(isEventType('member:joined')).toBe(true);
    expect(isEventType('custom:foo')).toBe(false);
    expect(isEventType('toString')).toBe(false);
  });

  it.each([
    ['text', true],
    ['audio:dtmf', true],
    ['text:update', false],
    ['member:joined', false],
    ['sip:hangup', false],
    ['custom:anything', true],
    ['custom:', false],
    ['nonsense', false],
  ] as const)('isWebhookEvent(%j) is %j', (type, expected) => {
    expect(isWebhookEvent(type)).toBe(expected);
  });

  it('lets clients send the text and image types and custom events, nothing else', () => {
    for (const type of CLIENT_SENDABLE_TYPES) expect(isClientSendable(type)).toBe(true);
    expect(CLIENT_SENDABLE_TYPES).toHaveLength(9);
    expect(isClientSendable('custom:ping')).toBe(true);
    expect(isClientSendable('member:joined')).toBe(false);
    expect(isClientSendable('audio:dtmf')).toBe(false);
    expect(isClientSendable('event:delete')).toBe(false);
  });
});
