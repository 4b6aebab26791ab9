/**
 * Reading SIP message text without sip.js's parser: the start line, header lines (unfolded, compact
 * forms expanded) and the Content-Length. Used for framing, for answering requests too broken for
 * the parser, and for routing outgoing messages, which sip.js hands over as plain strings.
 */

const COMPACT_FORMS: Readonly<Record<string, string>> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** One header field: its full lowercase name and its trimmed value (folded lines joined). */
export interface HeaderLine {
  readonly name: string;
  readonly value: string;
}

/** A message head: the start line and its header fields in order. */
export interface MessageHead {
  readonly startLine: string;
  readonly headers: readonly HeaderLine[];
}

const CRLF = '\r\n';
const HEADER_END = Buffer.from('\r\n\r\n');

/** Full lowercase header name, with RFC 3261 §7.3.3 compact forms expanded. */
export function canonicalHeaderName(name: string): string {
  const lower = name.trim().toLowerCase();
  return COMPACT_FORMS[lower] ?? lower;
}

/** Index of the CRLFCRLF that ends the head, or -1. */
export function findHeadEnd(data: Buffer, from = 0): number {
  return data.indexOf(HEADER_END, from);
}

const HEADER_NAME = /^[A-Za-z0-9!%*_+`'~.-]+\s*$/;
/** Header names as written, each with its full name, once read: a handful of spellings recur in every message. */
const knownNames = new Map<string, string>();
const KNOWN_NAMES_LIMIT = 256;

/** Splits a head (start line and header lines, without the empty line) into its parts; undefined when a line is not a header. */
export function parseHead(head: string): MessageHead | undefined {
  const lines = head.split(CRLF);
  const startLine = lines.shift();
  if (startLine === undefined || startLine.trim() === '') return undefined;
  const headers: { name: string; value: string }[] = [];
  for (const line of lines) {
    if (line === '') continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = headers.at(-1);
      if (!last) return undefined;
      last.value = `${last.value} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    let canonical = knownNames.get(name);
    if (canonical === undefined) {
      if (!HEADER_NAME.test(name)) return undefined;
      canonical = canonicalHeaderName(name);
      if (knownNames.size >= KNOWN_NAMES_LIMIT) knownNames.clear();
      knownNames.set(name, canonical);
    }
    headers.push({ name: canonical, value: line.slice(colon + 1).trim() });
  }
  return { startLine, headers };
}

/** Every value of a header (full lowercase name), in order. */
export function headerValues(head: MessageHead, name: string): string[] {
  return head.headers.filter((h) => h.name === name).map((h) => h.value);
}

/** The first value of a header, if present. */
export function headerValue(head: MessageHead, name: string): string | undefined {
  return head.headers.find((h) => h.name === name)?.value;
}

/** Content-Length of a head: a number, `undefined` when absent, `'invalid'` when unreadable or contradictory. */
export function contentLength(head: MessageHead): number | undefined | 'invalid' {
  const values = headerValues(head, 'content-length');
  if (values.length === 0) return undefined;
  const first = values[0] ?? '';
  if (!/^\d{1,10}$/.test(first) || values.some((v) => v !== first)) return 'invalid';
  return Number(first);
}

/** A request line `METHOD SP Request-URI SP SIP/2.0`, or undefined. */
export function parseRequestLine(startLine: string): { method: string; uri: string } | undefined {
  const match = /^([A-Za-z0-9!%*_+`'~.-]+) (\S+) SIP\/2\.0$/.exec(startLine);
  if (!match?.[1] || !match[2]) return undefined;
  return { method: match[1], uri: match[2] };
}

/** A status line `SIP/2.0 SP code SP reason`, or undefined. */
export function parseStatusLine(startLine: string): { status: number } | undefined {
  const match = /^SIP\/2\.0 ([1-6]\d\d)(?: .*)?$/.exec(startLine);
  if (!match?.[1]) return undefined;
  return { status: Number(match[1]) };
}

/** The method named in a CSeq value (`314159 INVITE` → `INVITE`). */
export function cseqMethod(cseq: string | undefined): string | undefined {
  const match = /^\d{1,10}\s+([A-Za-z0-9!%*_+`'~.-]+)$/.exec(cseq?.trim() ?? '');
  return match?.[1];
}

/** The head of a message text: everything before the empty line (all of it when there is none). */
export function headOf(text: string): string {
  const end = text.indexOf('\r\n\r\n');
  return end < 0 ? text : text.slice(0, end);
}

/** The parsed head of a message text; throws when unreadable (for messages sip.js built). */
export function readHead(text: string): MessageHead {
  const head = parseHead(headOf(text));
  if (!head) throw new Error('message head unreadable');
  return head;
}

/** Rewrites the transport token of the first Via line (sip.js writes its transport's `protocol` into every request). */
export function rewriteTopViaTransport(text: string, transport: string): string {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const rewritten = head.replace(/^((?:Via|v)[ \t]*:[ \t]*SIP[ \t]*\/[ \t]*2\.0[ \t]*\/[ \t]*)[A-Za-z]+/im, `$1${transport}`);
  return end < 0 ? rewritten : rewritten + text.slice(end);
}
