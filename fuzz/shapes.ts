import fc from 'fast-check';
import { z } from 'zod';
import { CLIENT_SENDABLE_TYPES, EVENT_TYPES } from '../src/events/catalogue.js';
import * as httpSchemas from '../src/interfaces/http/schemas.js';
import * as mediaSchemas from '../src/interfaces/mediaSchemas.js';
import * as operatorProtocol from '../src/interfaces/socket/operatorProtocol.js';
import * as protocol from '../src/interfaces/socket/protocol.js';
import { fakeOfferSdp } from '../test/support/fakeEngine.js';
import type { FuzzWorld } from './gateway.js';

/**
 * Payloads shaped like the gateway's own input schemas, and wrong: every zod schema the socket
 * protocol, the REST schemas and the media parameters export is turned into JSON Schema (so a
 * schema added there is fuzzed without a change here), and values are drawn from it — each field
 * present or not, of its type or another, at its limits and just past them, with real ids of the
 * seeded world mixed in so that inputs reach past the id look-ups — plus arbitrary JSON.
 */

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
}

/** Every zod schema (and raw shape of one) exported by the modules that validate outside input. */
function exportedSchemas(): JsonSchema[] {
  const found: z.ZodType[] = [];
  for (const module of [protocol, operatorProtocol, httpSchemas, mediaSchemas] as Record<string, unknown>[]) {
    for (const value of Object.values(module)) {
      if (value instanceof z.ZodType) found.push(value);
      else if (value !== null && typeof value === 'object' && Object.values(value).length > 0 && Object.values(value).every((v) => v instanceof z.ZodType))
        found.push(z.object(value as z.ZodRawShape));
    }
  }
  return found.map((schema) => z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as JsonSchema);
}

/** JSON text of a value; `undefined` (which JSON.stringify gives for it) written out. */
export function json(value: unknown): string {
  // JSON.stringify's type says string, but it gives undefined for undefined (and functions).
  const text = JSON.stringify(value) as unknown;
  return typeof text === 'string' ? text : 'undefined';
}

/** Values that mean something to the seeded gateway, and classic troublemakers. */
export function worldValues(world: FuzzWorld): fc.Arbitrary<unknown> {
  return fc.constantFrom<unknown>(
    world.conversationId,
    world.conversationName,
    world.otherConversationId,
    world.memberId,
    world.legId,
    world.eventId,
    String(world.eventId),
    'CON-00000000-0000-4000-8000-000000000000',
    'MEM-00000000-0000-4000-8000-000000000000',
    '00000000-0000-4000-8000-000000000000',
    'USR-00000000-0000-4000-8000-000000000000',
    '',
    ' ',
    '__proto__',
    'constructor',
    'toString',
    '../../etc/passwd',
    '%00',
    '\u0000',
    '\ud800',
    'x'.repeat(201),
    'x'.repeat(70_000),
    '1e400',
    -1,
    0,
    1,
    2 ** 53,
    -0,
    1.5,
    true,
    false,
    null,
    [],
    {},
    { text: 'hello' },
    { text: 'x'.repeat(20_000) },
    JSON.parse('{"__proto__":{"polluted":true}}') as unknown,
    fakeOfferSdp(),
    '123#',
    ...EVENT_TYPES.slice(0, 12),
    ...CLIENT_SENDABLE_TYPES,
    'custom:fuzz',
    'custom:',
  );
}

function stringFor(schema: JsonSchema, values: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const options: fc.Arbitrary<unknown>[] = [values, fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 })];
  if (schema.format === 'uuid') options.push(fc.uuid());
  if (schema.maxLength !== undefined) options.push(fc.constantFrom('y'.repeat(schema.maxLength), 'y'.repeat(schema.maxLength + 1)));
  if (schema.minLength !== undefined && schema.minLength > 0) options.push(fc.constant('z'.repeat(schema.minLength - 1)));
  if (schema.pattern !== undefined) {
    try {
      options.push(fc.stringMatching(new RegExp(schema.pattern)));
    } catch {
      // A pattern fast-check cannot generate from: the other options cover the field.
    }
  }
  return fc.oneof(...options);
}

function numberFor(schema: JsonSchema, values: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const min = schema.minimum ?? -1000;
  const max = schema.maximum ?? 1000;
  const edges = [min - 1, min, max, max + 1, min + 0.5].filter((n) => Number.isFinite(n));
  return fc.oneof(
    values,
    fc.constantFrom(...edges),
    fc.integer({ min: -5, max: 5 }),
    fc.double({ noNaN: true }),
    fc.integer({ min: Math.max(min, -1e9), max: Math.min(max, 1e9) }),
  );
}

/** An arbitrary of values near `schema`: mostly of its shape, sometimes anything. */
function arbitraryFor(schema: JsonSchema, values: fc.Arbitrary<unknown>, depth: number): fc.Arbitrary<unknown> {
  const wrong = depth > 2 ? values : fc.oneof(values, fc.anything({ maxDepth: 2, maxKeys: 4 }));
  const union = schema.anyOf ?? schema.oneOf;
  if (union && union.length > 0) return fc.oneof(...union.map((s) => arbitraryFor(s, values, depth)), wrong);
  if (schema.const !== undefined) return fc.oneof({ weight: 4, arbitrary: fc.constant(schema.const) }, { weight: 1, arbitrary: wrong });
  if (schema.enum !== undefined && schema.enum.length > 0)
    return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...schema.enum) }, { weight: 1, arbitrary: wrong });
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const entries = Object.entries(schema.properties ?? {});
      const fields = entries.map(([key, s]) => fc.option(arbitraryFor(s, values, depth + 1), { nil: undefined, freq: 4 }).map((v) => [key, v] as const));
      const extra = fc.option(fc.tuple(fc.constantFrom('extra', '__proto__', 'constructor', ...entries.map(([k]) => k.toUpperCase())), values), {
        nil: undefined,
        freq: 6,
      });
      return fc.oneof(
        { weight: 6, arbitrary: fc.tuple(fc.tuple(...fields), extra).map(([kv, more]) => objectOf([...kv, ...(more ? [more] : [])])) },
        { weight: 1, arbitrary: wrong },
      );
    }
    case 'array':
      return fc.oneof(fc.array(schema.items ? arbitraryFor(schema.items, values, depth + 1) : values, { maxLength: 4 }), wrong);
    case 'string':
      return fc.oneof({ weight: 4, arbitrary: stringFor(schema, values) }, { weight: 1, arbitrary: wrong });
    case 'integer':
    case 'number':
      return fc.oneof({ weight: 4, arbitrary: numberFor(schema, values) }, { weight: 1, arbitrary: wrong });
    case 'boolean':
      return fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: wrong });
    case 'null':
      return fc.oneof(fc.constant(null), wrong);
    default:
      return fc.oneof(values, wrong);
  }
}

function objectOf(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  // defineProperty: a key named __proto__ must be an own key, as JSON.parse would make it.
  const out: Record<string, unknown> = {};
  for (const [key, value] of entries) if (value !== undefined) Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/**
 * The fuzz sends nothing anywhere but 127.0.0.1, and neither may the gateway on its behalf: any
 * string that names a remote place (a URL, a SIP or tel URI) is pointed at the discard port of
 * loopback before it is sent, so that an accepted play or call cannot reach out.
 */
export function confine(value: unknown): unknown {
  if (typeof value === 'string') {
    if (/:\/\//.test(value)) return value.replace(/^([^:]*):\/\/.*$/s, '$1://127.0.0.1:9/fuzz');
    if (/^\s*(sips?|tel):/i.test(value)) return 'sip:fuzz@127.0.0.1:9';
    return value;
  }
  if (Array.isArray(value)) return value.map(confine);
  if (value !== null && typeof value === 'object') {
    return objectOf(Object.entries(value).map(([k, v]) => [k, confine(v)] as const));
  }
  return value;
}

/** Payloads: shaped like any of the exported schemas (and wrong), or anything at all, or nothing. */
export function payloads(world: FuzzWorld): fc.Arbitrary<unknown> {
  const values = worldValues(world);
  const shaped = exportedSchemas().map((s) => arbitraryFor(s, values, 0));
  return fc
    .oneof(
      { weight: 12, arbitrary: fc.oneof(...shaped) },
      { weight: 2, arbitrary: fc.anything({ maxDepth: 3 }) },
      { weight: 1, arbitrary: values },
      { weight: 1, arbitrary: fc.constant(undefined) },
    )
    .map(confine);
}
