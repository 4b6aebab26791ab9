import type { MessageHead } from './sipText.js';

/**
 * What RFC 3261's grammar forbids and sip.js's parser lets through — the invalid messages of
 * RFC 4475 §3.1.2 it would otherwise act on — and the unfolding of header lines (§7.3.1: a line
 * that starts with white space continues the previous one, and the fold is one SP), so that what
 * sip.js reads, and what responses copy back, is one line per header field.
 */

export type SyntaxProblem = { readonly status: 400 | 505; readonly reason: string };

const TOKEN = "[A-Za-z0-9!%*_+`'~.-]+";
const REQUEST_LINE = new RegExp(`^(${TOKEN}) (\\S+) ([A-Za-z]+)/(\\d+)\\.(\\d+)$`);
const CSEQ = new RegExp(`^(\\d{1,10})\\s+${TOKEN}$`);
const RFC1123_GMT = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
/** CSeq numbers are below 2**31 (§8.1.1.5); Expires and Retry-After fit in 32 bits (§20.19, §20.33). */
const CSEQ_LIMIT = 2 ** 31;
const DELTA_SECONDS_LIMIT = 2 ** 32 - 1;

const isBlank = (code: number): boolean => code === 0x20 || code === 0x09;

/**
 * The message with its header lines unfolded (the body is left as it is): each `[ \t]*CRLF[ \t]+`
 * becomes one SP. Scanned by hand in one pass: as a regular expression, the leading `[ \t]*` is
 * retried from every blank of a long run, and one 64 KiB datagram of blanks with a fold took
 * seconds of the event loop (found by `npm run fuzz`).
 */
export function unfoldHead(text: string): string {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  if (!/\r\n[ \t]/.test(head)) return text;
  let unfolded = '';
  // Copied up to `copied`; the next CRLF is looked for from `from`.
  let copied = 0;
  let from = 0;
  for (let crlf = head.indexOf('\r\n'); crlf >= 0; crlf = head.indexOf('\r\n', from)) {
    let after = crlf + 2;
    while (after < head.length && isBlank(head.charCodeAt(after))) after++;
    from = crlf + 2;
    if (after === crlf + 2) continue;
    // The blanks before the CRLF go too, back to what a previous fold already replaced.
    let start = crlf;
    while (start > copied && isBlank(head.charCodeAt(start - 1))) start--;
    unfolded += `${head.slice(copied, start)} `;
    copied = from = after;
  }
  unfolded += head.slice(copied);
  return end < 0 ? unfolded : unfolded + text.slice(end);
}

/**
 * A request line must be `Method SP Request-URI SP SIP/2.0`, single spaces and nothing after
 * (§7.1; RFC 4475 lwsstart, trws, lwsruri, ltgtruri); another version gets 505 (badvers). A SIP
 * Request-URI carries no headers (§19.1.1's table; escruri).
 */
export function requestLineProblem(startLine: string): SyntaxProblem | undefined {
  const match = REQUEST_LINE.exec(startLine);
  if (!match) return { status: 400, reason: 'Malformed Request-Line' };
  const [, , uri = '', protocol = '', major = '', minor = ''] = match;
  if (protocol.toUpperCase() !== 'SIP' || Number(major) !== 2 || Number(minor) !== 0) return { status: 505, reason: 'Version Not Supported' };
  if (/[<>]/.test(uri)) return { status: 400, reason: 'Malformed Request-URI' };
  // `?` may appear in the user part (user-unreserved); headers come after the host, and no raw `@` can follow them.
  if (/^sips?:/i.test(uri) && uri.slice(uri.indexOf('@') + 1).includes('?')) return { status: 400, reason: 'Headers in Request-URI' };
  return undefined;
}

/** The checks of `headerProblem`, in the order their problems are reported. */
const CHECKED_FIELDS: ReadonlyMap<string, number> = new Map([
  ['cseq', 0],
  ['max-forwards', 1],
  ['expires', 2],
  ['min-expires', 3],
  ['retry-after', 4],
  ['date', 5],
]);

function fieldProblem(name: string, value: string): SyntaxProblem | undefined {
  switch (name) {
    case 'cseq': {
      const number = CSEQ.exec(value)?.[1];
      return number === undefined || Number(number) >= CSEQ_LIMIT ? { status: 400, reason: 'Malformed CSeq' } : undefined;
    }
    case 'max-forwards':
      return !/^\d{1,10}$/.test(value) || Number(value) > 255 ? { status: 400, reason: 'Malformed Max-Forwards' } : undefined;
    case 'expires':
    case 'min-expires':
      return !/^\d{1,10}$/.test(value) || Number(value) > DELTA_SECONDS_LIMIT
        ? { status: 400, reason: `Malformed ${name === 'expires' ? 'Expires' : 'Min-Expires'}` }
        : undefined;
    case 'retry-after': {
      const seconds = /^(\d+)/.exec(value)?.[1];
      return seconds === undefined || seconds.length > 10 || Number(seconds) > DELTA_SECONDS_LIMIT
        ? { status: 400, reason: 'Malformed Retry-After' }
        : undefined;
    }
    default:
      return RFC1123_GMT.test(value) ? undefined : { status: 400, reason: 'Malformed Date' };
  }
}

/**
 * Scalar header fields within their ranges (RFC 4475 scalar02, scalarlg) and a Date in GMT
 * (baddate). One pass over the fields; of several problems, the first in the order above is told.
 */
export function headerProblem(head: MessageHead): SyntaxProblem | undefined {
  let found: SyntaxProblem | undefined;
  let foundRank = Number.POSITIVE_INFINITY;
  for (const { name, value } of head.headers) {
    const rank = CHECKED_FIELDS.get(name);
    if (rank === undefined || rank >= foundRank) continue;
    const problem = fieldProblem(name, value);
    if (problem) {
      found = problem;
      foundRank = rank;
    }
  }
  return found;
}
