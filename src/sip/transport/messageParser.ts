import { Core, Grammar, NameAddrHeader, URI } from 'sip.js';
import { headerize } from 'sip.js/lib/core/messages/utils.js';

/**
 * sip.js's `Parser.parseMessage` (0.21.2), step for step, for the receive path: the same text gives
 * the same message, fields, header entries and log lines (test/unit/sip/messageParser.test.ts
 * compares the two over the RFC 4475 and golden corpora), at a fraction of the CPU:
 *
 * - a grammar result is remembered by start rule and value, and a repeat gets a deep copy of it (no
 *   two messages share an object). A call's ACK and BYE repeat its INVITE's From, To and Call-ID,
 *   every in-dialog request names our own Contact as Request-URI, and CSeq, Max-Forwards,
 *   Content-Type and a trunk's Contact repeat across calls; a To (or From) that only adds a tag to
 *   one parsed before is made from it, and a Call-ID is read by a pattern of its grammar;
 * - a From or To whose URI's user is plain (unreserved characters only: a caller's number, SIPp's
 *   `sipp-42`) is parsed with a stand-in user, remembered like any result, and gets its own user
 *   (and tag) set on the copy: the user is new with every caller, the rest of the field is not;
 * - header names are normalised once per distinct name (sip.js does it several times per field);
 * - the top Via is only checked, by a pattern the grammar accepts (IP address or host name, port,
 *   `branch`, `rport`, `received`), and given to the grammar only when it falls outside it:
 *   `normalizeIncoming` reads the Via itself and replaces all that sip.js would make of it.
 */

type Message = Core.IncomingRequestMessage | Core.IncomingResponseMessage;
type HeaderEntry = { parsed?: unknown; raw: string };

/** Results kept (oldest dropped first), and the longest value kept: repeats are short and recent. */
const RESULT_LIMIT = 1024;
const CACHEABLE_LENGTH = 256;
const results = new Map<string, { parsed: unknown }>();
const headerNames = new Map<string, string>();
const HEADER_NAME_LIMIT = 256;

/** The prototypes grammar results are made of; anything else (a polluted prototype) is not remembered. */
const KNOWN_PROTOTYPES: ReadonlySet<unknown> = new Set([Object.prototype, Array.prototype, URI.prototype, NameAddrHeader.prototype]);
const UNCOPYABLE = Symbol('uncopyable');

/** A deep copy of a grammar result: own enumerable fields in order, same prototypes. */
function copyOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (!KNOWN_PROTOTYPES.has(prototype)) return UNCOPYABLE;
  if (Array.isArray(value)) {
    const items: unknown[] = [];
    for (const item of value) {
      const copied = copyOf(item);
      if (copied === UNCOPYABLE) return UNCOPYABLE;
      items.push(copied);
    }
    return items;
  }
  const copy = Object.create(prototype as object) as Record<string, unknown>;
  for (const key of Object.keys(value)) {
    const copied = copyOf((value as Record<string, unknown>)[key]);
    if (copied === UNCOPYABLE || key === '__proto__') return UNCOPYABLE;
    copy[key] = copied;
  }
  return copy;
}

/** A Call-ID as the grammar reads it (`word ["@" word]`, its result the text itself). */
const CALL_ID = /^[A-Za-z0-9.!%*_+`'~()<>:\\"/[\]?{}-]+(?:@[A-Za-z0-9.!%*_+`'~()<>:\\"/[\]?{}-]+)?$/;
/** A From or To that is a name-addr with nothing after its `>` but `;tag=token`. */
const TAGGED_NAME_ADDR = /^([^>]*>);tag=([A-Za-z0-9.!%*_+`'~-]+)$/;

/**
 * A tagged From or To whose untagged form was parsed before (a dialog's To gets our tag in the ACK
 * and BYE): the grammar's result is the untagged one with the tag set last, as its action does.
 */
function taggedNameAddr(value: string, rule: string): NameAddrHeader | undefined {
  const tagged = TAGGED_NAME_ADDR.exec(value);
  if (tagged?.[1] === undefined || tagged[2] === undefined) return undefined;
  const untagged = results.get(`${rule}\n${tagged[1]}`)?.parsed;
  if (!(untagged instanceof NameAddrHeader) || untagged.hasParam('tag')) return undefined;
  const header = copyOf(untagged);
  if (!(header instanceof NameAddrHeader)) return undefined;
  header.setParam('tag', tagged[2]);
  return header;
}

/**
 * A name-addr whose URI is `sip:` or `sips:` with a user of unreserved characters (RFC 3261 §25.1)
 * and nothing else before its `@`: the text before the user, the user, and the text after it.
 */
const PLAIN_USER = /^([^<>]*<sips?:)([A-Za-z0-9_.!~*'()-]+)(@[^<>]*>)$/i;
/** The user a From or To with a plain user is parsed with (itself a plain user). */
const STAND_IN_USER = 'u';

/**
 * A From or To (tagged or not) whose URI has a plain user: the grammar's result for the same text
 * with a stand-in user, with the user set (unreserved characters are the user as written: nothing
 * to decode) and then the tag, as the grammar's actions do. Undefined when the text is in another
 * form, or the stand-in did not end up as the URI's user.
 */
function nameAddrWithUser(value: string, rule: string): NameAddrHeader | undefined {
  const tagged = TAGGED_NAME_ADDR.exec(value);
  const plain = PLAIN_USER.exec(tagged?.[1] ?? value);
  if (plain?.[1] === undefined || plain[2] === undefined || plain[3] === undefined) return undefined;
  const header = remembered(plain[1] + STAND_IN_USER + plain[3], rule);
  if (!(header instanceof NameAddrHeader) || header.hasParam('tag') || !(header.uri instanceof URI) || header.uri.user !== STAND_IN_USER) return undefined;
  header.uri.user = plain[2];
  if (tagged?.[2] !== undefined) header.setParam('tag', tagged[2]);
  return header;
}

/** `Grammar.parse(value, rule)`, remembered. */
function parseRule(value: string, rule: string): unknown {
  if (rule === 'Call_ID' && CALL_ID.test(value)) return value;
  if (rule === 'From' || rule === 'To') {
    const header = taggedNameAddr(value, rule) ?? nameAddrWithUser(value, rule);
    if (header) return header;
  }
  return remembered(value, rule);
}

/** `Grammar.parse(value, rule)`, remembered: a repeat gets a copy of the result kept (the caller may change what it gets). */
function remembered(value: string, rule: string): unknown {
  if (value.length > CACHEABLE_LENGTH) return Grammar.parse(value, rule);
  const key = `${rule}\n${value}`;
  const known = results.get(key);
  if (known) return copyOf(known.parsed);
  const parsed: unknown = Grammar.parse(value, rule);
  const kept = copyOf(parsed);
  if (kept !== UNCOPYABLE) {
    if (results.size >= RESULT_LIMIT) results.delete(results.keys().next().value as string);
    results.set(key, { parsed: kept });
  }
  return parsed;
}

/** sip.js's `headerize`, remembered. */
function headerName(name: string): string {
  let known = headerNames.get(name);
  if (known === undefined) {
    known = headerize(name);
    if (headerNames.size < HEADER_NAME_LIMIT) headerNames.set(name, known);
  }
  return known;
}

const TOKEN = "[A-Za-z0-9.!%*_+`'~-]+";
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const IPV4 = `${OCTET}(?:\\.${OCTET}){3}`;
const HOSTNAME = '(?:[A-Za-z0-9_-]+\\.)*[A-Za-z][A-Za-z0-9-]*';
const VIA_PARAM = `(?:branch=${TOKEN}|rport|rport=\\d{1,5}|received=${IPV4})`;
/** A Via the grammar accepts (a subset of its `Via` rule; test/unit/sip/messageParser.test.ts checks it). */
const PLAIN_VIA = new RegExp(`^SIP/2\\.0/(?:UDP|TCP|TLS) (?:${IPV4}|${HOSTNAME})(?::\\d{1,5})?(?:;${VIA_PARAM})*$`);

/** A header field's end (sip.js's `Parser.getHeader`): -2 at the empty line, -1 when none. */
function headerEnd(data: string, headerStart: number): number {
  if (data.startsWith('\r\n', headerStart)) return -2;
  let start = headerStart;
  for (;;) {
    const partialEnd = data.indexOf('\r\n', start);
    if (partialEnd === -1) return -1;
    // A line that starts with white space continues the field (unless it is the empty line).
    if (!data.startsWith('\r\n', partialEnd + 2) && /^\s/.test(data.charAt(partialEnd + 2))) start = partialEnd + 2;
    else return partialEnd;
  }
}

function add(message: Message, name: string, entry: HeaderEntry): HeaderEntry[] {
  const entries = message.headers[name];
  if (entries) {
    entries.push(entry);
    return entries;
  }
  return (message.headers[name] = [entry]);
}

/** sip.js's `IncomingMessage.parseHeader` on a field just set: undefined (and the field dropped) when its rule fails. */
function parseSet(message: Message, name: string, rule: string, entry: HeaderEntry): unknown {
  const parsed = parseRule(entry.raw, rule);
  if (parsed === -1) {
    message.headers[name]?.splice(0, 1);
    return undefined;
  }
  entry.parsed = parsed;
  return parsed;
}

/** Sets a single-valued field and parses it. */
function setAndParse(message: Message, name: string, rule: string, value: string): unknown {
  const entry: HeaderEntry = { raw: value };
  message.headers[name] = [entry];
  return parseSet(message, name, rule, entry);
}

/** One header field (sip.js's `Parser.parseHeader`): whether it was read. */
function parseField(message: Message, data: string, start: number, end: number): boolean {
  const colon = data.indexOf(':', start);
  const rawName = data.substring(start, colon).trim();
  const value = data.substring(colon + 1, end).trim();
  const lower = rawName.toLowerCase();
  let parsed: unknown;
  switch (lower) {
    case 'via':
    case 'v': {
      const entry: HeaderEntry = { raw: value };
      if (add(message, 'Via', entry).length !== 1) return true;
      if (PLAIN_VIA.test(value)) return true;
      parsed = Grammar.parse(value, 'Via') as unknown;
      if (parsed === -1) {
        message.headers['Via']?.splice(0, 1);
        parsed = undefined;
      } else {
        entry.parsed = parsed;
        message.via = parsed as { host: string; port: number };
        message.viaBranch = (parsed as { branch: string }).branch;
      }
      break;
    }
    case 'from':
    case 'f':
      // The From and To rules make a NameAddrHeader, or fail.
      parsed = setAndParse(message, 'From', 'From', value);
      if (parsed instanceof NameAddrHeader) {
        message.from = parsed;
        message.fromTag = parsed.getParam('tag') as string;
      }
      break;
    case 'to':
    case 't':
      parsed = setAndParse(message, 'To', 'To', value);
      if (parsed instanceof NameAddrHeader) {
        message.to = parsed;
        message.toTag = parsed.getParam('tag') as string;
      }
      break;
    case 'record-route':
    case 'contact':
    case 'm':
      parsed = parseRule(value, lower === 'record-route' ? 'Record_Route' : 'Contact');
      if (parsed === -1 || !Array.isArray(parsed)) {
        parsed = undefined;
        break;
      }
      for (const header of parsed as { position: number; offset: number; parsed: unknown }[]) {
        const entries = add(message, lower === 'record-route' ? 'Record-Route' : 'Contact', { raw: value.substring(header.position, header.offset) });
        (entries[entries.length - 1] as HeaderEntry).parsed = header.parsed;
      }
      break;
    case 'call-id':
    case 'i':
      parsed = setAndParse(message, 'Call-ID', 'Call_ID', value);
      if (parsed) message.callId = value;
      break;
    case 'content-length':
    case 'l':
      parsed = setAndParse(message, 'Content-Length', 'Content_Length', value);
      break;
    case 'content-type':
    case 'c':
      parsed = setAndParse(message, 'Content-Type', 'Content_Type', value);
      break;
    case 'cseq':
      parsed = setAndParse(message, 'CSeq', 'CSeq', value);
      if (parsed) message.cseq = (parsed as { value: number }).value;
      // As in sip.js: a response with an unreadable CSeq throws here (the caller treats it as unparseable).
      if (message instanceof Core.IncomingResponseMessage) message.method = (parsed as { method: string }).method;
      break;
    case 'max-forwards':
      parsed = setAndParse(message, 'Max-Forwards', 'Max_Forwards', value);
      break;
    case 'www-authenticate':
      parsed = setAndParse(message, 'WWW-Authenticate', 'WWW_Authenticate', value);
      break;
    case 'proxy-authenticate':
      parsed = setAndParse(message, 'Proxy-Authenticate', 'Proxy_Authenticate', value);
      break;
    case 'refer-to':
    case 'r':
      parsed = setAndParse(message, 'Refer-To', 'Refer_To', value);
      if (parsed) message.referTo = parsed as string;
      break;
    default:
      add(message, headerName(lower), { raw: value });
      return true;
  }
  if (parsed === undefined) {
    // sip.js logs this, and gives up on the message.
    return false;
  }
  return true;
}

/** Parses a SIP message as sip.js's `Core.Parser.parseMessage` does; undefined (after logging as it does) when it would. */
export function parseSipMessage(data: string, logger: Core.Logger): Message | undefined {
  let end = data.indexOf('\r\n');
  if (end === -1) {
    logger.warn('no CRLF found, not a SIP message, discarded');
    return undefined;
  }
  const firstLine = data.substring(0, end);
  const start = parseRule(firstLine, 'Request_Response') as -1 | { status_code?: number; reason_phrase?: string; method?: string; uri?: URI };
  if (start === -1) {
    logger.warn(`error parsing first line of SIP message: "${firstLine}"`);
    return undefined;
  }
  let message: Message;
  if (!start.status_code) {
    message = new Core.IncomingRequestMessage();
    message.method = start.method as string;
    message.ruri = start.uri;
  } else {
    message = new Core.IncomingResponseMessage();
    message.statusCode = start.status_code;
    message.reasonPhrase = start.reason_phrase;
  }
  message.data = data;
  let fieldStart = end + 2;
  for (;;) {
    end = headerEnd(data, fieldStart);
    if (end === -2) break;
    if (end === -1) {
      logger.error('malformed message');
      return undefined;
    }
    if (!parseField(message, data, fieldStart, end)) {
      const colon = data.indexOf(':', fieldStart);
      logger.error(`error parsing header '${data.substring(fieldStart, colon).trim()}'`);
      return undefined;
    }
    fieldStart = end + 2;
  }
  const bodyStart = fieldStart + 2;
  const length = message.headers['Content-Length'];
  message.body = length ? bodyOf(data, bodyStart, Number(length[0]?.raw)) : data.substring(bodyStart);
  return message;
}

/** `data.substr(start, length)`, as sip.js reads the body (a length that is not a positive number reads nothing). */
function bodyOf(data: string, start: number, length: number): string {
  const count = Math.trunc(length);
  return count > 0 ? data.slice(start, start + count) : '';
}
