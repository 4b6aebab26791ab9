/**
 * Our patch to sip.js (patches/sip.js+<version>.patch, applied by patch-package on install) replaces
 * its generated grammar with one generated for speed, whose constants and rule functions are defined
 * once per process instead of on every parse (docs/upstream/sipjs-patches.md). This checks that the
 * patch is applied, that parses define nothing per call any more, and that the patch changes nothing a
 * parse returns: the patched sip.js must reproduce test/sip/sip-grammar-golden.json, which
 * scripts/sip-grammar-golden.mjs recorded from the unpatched sip.js (every RFC 4475 torture message,
 * typical dialog messages with many kinds of header field, every start rule of the grammar on every
 * header value, and the syntax errors). The recording below mirrors that script's.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Core, Grammar } from 'sip.js';
import * as peg from 'sip.js/lib/grammar/pegjs/dist/grammar.js';
import { afterEach, describe, expect, it, vi } from 'vitest';

type Plain = null | boolean | string | number | Plain[] | { [key: string]: Plain };

interface RuleResults {
  ok: Record<string, Plain>;
  failed: Record<string, number | string>;
  errors: Record<string, Plain>;
}

interface MessageEntry {
  /** An RFC 4475 message: its file under test/sip, its SHA-256 and how its octets were decoded. */
  file?: string;
  sha256?: string;
  encoding?: 'utf8' | 'latin1';
  /** A typical message: its name and text. */
  name?: string;
  text?: string;
  parseMessage: Plain;
  startLine: RuleResults & { value: string };
  headers: (RuleResults & { name: string; value: string; rule: string | null })[];
}

interface Golden {
  sipjs: string;
  rules: string[];
  messages: MessageEntry[];
  values: (RuleResults & { value: string })[];
}

const SIP_DIR = new URL('../sip/', import.meta.url);
const SIPJS_DIR = new URL('../../node_modules/sip.js/', import.meta.url);
const GRAMMAR_FILE = new URL('lib/grammar/pegjs/dist/grammar.js', SIPJS_DIR);
const PATCHES_DIR = new URL('../../patches/', import.meta.url);

const golden = JSON.parse(readFileSync(new URL('sip-grammar-golden.json', SIP_DIR), 'utf8')) as Golden;
const installedVersion = (JSON.parse(readFileSync(new URL('package.json', SIPJS_DIR), 'utf8')) as { version: string }).version;

/** A JSON form of whatever a parse returns, as the golden script makes it: class names kept, `undefined` spelled out, keys sorted. */
function plain(value: unknown, seen = new Set<object>()): Plain {
  if (value === undefined) return { $type: 'undefined' };
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $type: 'number', value: String(value) };
  if (typeof value === 'function') return { $type: 'function', name: value.name };
  if (typeof value === 'bigint' || typeof value === 'symbol') return { $type: typeof value, value: value.toString() };
  if (typeof value !== 'object') throw new Error(`cannot record a ${typeof value}`);
  if (seen.has(value)) throw new Error('a parse result with a cycle');
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item: unknown) => plain(item, seen));
    const proto: unknown = Object.getPrototypeOf(value);
    const result: { [key: string]: Plain } = {};
    if (proto !== Object.prototype && proto !== null) {
      const instance = value as { constructor: { name: string }; toString: () => string };
      result['$class'] = instance.constructor.name;
      if (typeof instance.toString === 'function' && instance.toString !== Object.prototype.toString) result['$string'] = instance.toString();
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record).sort()) result[key] = plain(record[key], seen);
    return result;
  } finally {
    seen.delete(value);
  }
}

/** Every start rule on `value`: successes, where each failure failed, and the full syntax error for `detailed`. */
function allRules(value: string, detailed: string | null | undefined): RuleResults {
  const results: RuleResults = { ok: {}, failed: {}, errors: {} };
  for (const rule of golden.rules) {
    const data: unknown = Grammar.parse(value, rule);
    if (data !== -1) {
      results.ok[rule] = plain(data);
      continue;
    }
    try {
      peg.parse(value, { startRule: rule });
      results.failed[rule] = 'parse succeeded where Grammar.parse failed';
    } catch (err) {
      // A syntax error says where the parse failed; an action of the grammar may also throw (a TypeError).
      const syntax = err instanceof peg.SyntaxError ? err : undefined;
      results.failed[rule] = syntax ? syntax.location.start.offset : String(err);
      if (rule === detailed)
        results.errors[rule] = syntax
          ? { message: syntax.message, found: syntax.found, expected: plain(syntax.expected), location: plain(syntax.location) }
          : { threw: String(err) };
    }
  }
  return results;
}

/** Core.Parser.parseMessage on `text`: the fields sip.js sets, the headers as stored, then after parsing each on demand, and what it logged. */
function parseMessageRecord(text: string): Plain {
  const logged: Plain[] = [];
  const factory = new Core.LoggerFactory();
  factory.builtinEnabled = false;
  factory.level = Core.Levels.debug;
  factory.connector = (level: string, _category: string, _label: string | undefined, content: unknown) => logged.push([level, String(content)]);
  let message: Core.IncomingRequestMessage | Core.IncomingResponseMessage | undefined;
  try {
    message = Core.Parser.parseMessage(text, factory.getLogger('golden'));
  } catch (err) {
    return { threw: err instanceof Error ? `${err.name}: ${err.message}` : String(err), logged };
  }
  if (message === undefined) return { message: null, logged };
  const record: { [key: string]: Plain } = { class: message.constructor.name, logged, stored: plain(message.headers) };
  const fields = ['method', 'ruri', 'statusCode', 'reasonPhrase', 'via', 'viaBranch', 'from', 'fromTag', 'to', 'toTag', 'callId', 'cseq', 'body'];
  for (const field of fields) record[field] = plain((message as unknown as Record<string, unknown>)[field]);
  for (const name of Object.keys(message.headers)) {
    for (let i = (message.headers[name]?.length ?? 0) - 1; i >= 0; i--) message.parseHeader(name, i);
  }
  record['afterOnDemand'] = plain(message.headers);
  return record;
}

function textOf(entry: MessageEntry): string {
  if (entry.text !== undefined) return entry.text;
  const bytes = readFileSync(new URL(entry.file!, SIP_DIR));
  expect(createHash('sha256').update(bytes).digest('hex'), `${entry.file} is the file the golden fixture was recorded from`).toBe(entry.sha256);
  return bytes.toString(entry.encoding);
}

const rulesOf = ({ ok, failed, errors }: RuleResults): RuleResults => ({ ok, failed, errors });

describe('sip.js grammar patch (generated for speed, defined once)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('is applied: the installed grammar has every line the patch for the installed sip.js adds', () => {
    const patchFile = readdirSync(PATCHES_DIR).find((file) => file.startsWith('sip.js+') && file.endsWith('.patch'));
    expect(patchFile).toBe(`sip.js+${installedVersion}.patch`);
    const patch = readFileSync(new URL(patchFile!, PATCHES_DIR), 'utf8');
    // The patch also changes other files of sip.js (test/unit/sip-merged-request.test.ts); this is its grammar part.
    const grammarDiff =
      patch.split(/^(?=diff --git )/m).find((part) => part.startsWith('diff --git a/node_modules/sip.js/lib/grammar/pegjs/dist/grammar.js ')) ?? '';
    const added = grammarDiff
      .split('\n')
      .filter((line) => line.startsWith('+') && !line.startsWith('+++'))
      .map((line) => line.slice(1));
    expect(added.some((line) => line.includes('legway-patch: generated with optimize "speed"'))).toBe(true);
    const installed = new Set(readFileSync(GRAMMAR_FILE, 'utf8').split('\n'));
    expect(added.filter((line) => !installed.has(line))).toEqual([]);
  });

  it('defines nothing per parse: the rule functions are the same objects from one parse to the next', () => {
    const source = readFileSync(GRAMMAR_FILE, 'utf8');
    // Every rule is a module-level function, and peg$parse itself only sets state and runs the start rule.
    const parseBody = /\nfunction peg\$parse\(inputArg, optionsArg\) \{\n([\s\S]*?)\n\}\n/.exec(source)?.[1] ?? '';
    expect(parseBody).not.toBe('');
    expect(parseBody).not.toMatch(/\bfunction\b|\bconst peg\$c\d+/);
    expect(source.match(/^function peg\$parse[A-Z_a-z]\w* ?\(/gm)?.length).toBeGreaterThan(200);
    const invite = golden.messages.find((entry) => entry.name === 'invite-sdp');
    for (let i = 0; i < 20; i++) expect(parseMessageRecord(textOf(invite!))).toEqual(invite!.parseMessage);
  });

  it('keeps the start rules the golden fixture was recorded with', () => {
    const table = /peg\$startRuleFunctions = \{([^}]*)\}/.exec(readFileSync(GRAMMAR_FILE, 'utf8'))?.[1] ?? '';
    expect([...table.matchAll(/(\w+):/g)].map(([, rule]) => rule)).toEqual(golden.rules);
    expect(installedVersion).toBe(golden.sipjs);
  });

  it.each(golden.messages.map((entry) => [entry.file === undefined ? entry.name! : `${entry.file} (${entry.encoding})`, entry] as const))(
    'parses %s exactly as the unpatched sip.js did',
    (_label, entry) => {
      const text = textOf(entry);
      expect(parseMessageRecord(text)).toEqual(entry.parseMessage);
      expect(allRules(entry.startLine.value, 'Request_Response')).toEqual(rulesOf(entry.startLine));
      for (const header of entry.headers) expect(allRules(header.value, header.rule), `${header.name}: ${header.value}`).toEqual(rulesOf(header));
    },
  );

  it('parses lone values (STUN/TURN URIs, a UUID, a sipfrag, hosts) with every start rule exactly as the unpatched sip.js did', () => {
    for (const entry of golden.values) expect(allRules(entry.value, undefined), JSON.stringify(entry.value)).toEqual(rulesOf(entry));
  });
});
