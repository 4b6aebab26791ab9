import { Core } from 'sip.js';
import { parseSipMessage } from './messageParser.js';
import { headOf, parseHead, type MessageHead } from './sipText.js';
import { headerProblem, requestLineProblem, unfoldHead } from './strictSyntax.js';
import { serverTransactionId } from './transactionId.js';
import { DEFAULT_SIP_PORT, type SipSource } from './types.js';
import { formatVia, parseVia, splitViaValues, stampVia, viaBranch, type Via } from './via.js';

/**
 * From message text to a message sip.js's core can take: header lines unfolded, checked where
 * sip.js's parser is lenient (`strictSyntax.ts`), parsed by sip.js's parser, checked for the header
 * fields every message needs (RFC 3261 §8.1.1), its Vias one per entry (sip.js's grammar reads the
 * last of comma-joined values and would take the wrong branch), and, for a request, the top Via
 * stamped with `received`/`rport` (§18.2.1, RFC 3581) so that responses find their way back, and
 * its server transaction id set (`transactionId.ts`).
 */
export type IncomingOutcome =
  /** `topViaText`: the stamped top Via as written into the message (and copied back into its responses). */
  | { readonly kind: 'request'; readonly message: Core.IncomingRequestMessage; readonly topVia: Via; readonly topViaText: string }
  | { readonly kind: 'response'; readonly message: Core.IncomingResponseMessage; readonly topVia: Via }
  /** A request (or something that may be one) to answer with `status`, if it can be addressed. */
  | { readonly kind: 'refuse'; readonly status: 400 | 505; readonly reason: string }
  /** A response, or a request that can get no answer: dropped. */
  | { readonly kind: 'drop'; readonly reason: string };

/** The header fields every message needs, as sip.js names them in `headers` (its `headerize`d form). */
const MANDATORY = ['From', 'To', 'Call-ID', 'CSeq', 'Via'] as const;

function parse(text: string, logger: Core.Logger): Core.IncomingRequestMessage | Core.IncomingResponseMessage | undefined {
  try {
    return parseSipMessage(text, logger);
  } catch {
    return undefined;
  }
}

/**
 * Reads one framed message; never throws. `awaitsAck(id)` tells whether the INVITE server
 * transaction of an id waits for the ACK of a non-2xx (to match RFC 2543 ACKs); `framedHead` is the
 * message's head as framing parsed it, if it did.
 */
export function normalizeIncoming(
  raw: string,
  source: SipSource,
  logger: Core.Logger,
  awaitsAck: (id: string) => boolean = () => false,
  framedHead?: MessageHead,
): IncomingOutcome {
  const text = unfoldHead(raw);
  // Framing may have read this head already (the same bytes; unfolding changes nothing when no line is folded).
  const head = framedHead !== undefined && text === raw ? framedHead : parseHead(headOf(text));
  const looksLikeRequest = head !== undefined && !head.startLine.startsWith('SIP/');
  const problem = head && ((looksLikeRequest ? requestLineProblem(head.startLine) : undefined) ?? headerProblem(head));
  if (problem) return looksLikeRequest ? { kind: 'refuse', ...problem } : { kind: 'drop', reason: problem.reason };

  const message = parse(text, logger);
  if (!message) return { kind: 'refuse', status: 400, reason: 'Malformed Message' };
  const isRequest = message instanceof Core.IncomingRequestMessage;

  for (const name of MANDATORY) {
    // `hasHeader` would normalise the name again for each look-up.
    if (!message.headers[name]) return refusal(isRequest, `Missing ${name.toLowerCase()} header`);
  }
  const cseq: unknown = message.parseHeader('cseq');
  if (message.callId === '' || !isCseq(cseq)) return refusal(isRequest, 'Malformed Call-ID or CSeq');

  const vias = message.getHeaders('via').flatMap(splitViaValues);
  const top = vias[0] === undefined ? undefined : parseVia(vias[0]);
  if (!top) return refusal(isRequest, 'Malformed Via');

  if (isRequest) {
    if (cseq.method !== message.method) return refusal(isRequest, 'CSeq method does not match');
    if (!message.ruri) return refusal(isRequest, 'Malformed Request-URI');
    const stamped = stampVia(top, source);
    const topViaText = formatVia(stamped);
    setVias(message, [topViaText, ...vias.slice(1)], stamped);
    const ruri = message.ruri;
    message.viaBranch = serverTransactionId(
      {
        method: message.method,
        topVia: top,
        // Written out only for the RFC 2543 ids that need it (a branch without the magic cookie).
        get requestUri() {
          return ruri.toString();
        },
        callId: message.callId,
        cseq: message.cseq,
        fromTag: message.fromTag,
        toTag: message.toTag,
      },
      awaitsAck,
    );
    return { kind: 'request', message, topVia: stamped, topViaText };
  }
  setVias(message, vias, top);
  return { kind: 'response', message, topVia: top };
}

/** A request with `reason` is refused (400); a response is dropped. */
function refusal(isRequest: boolean, reason: string): IncomingOutcome {
  return isRequest ? { kind: 'refuse', status: 400, reason } : { kind: 'drop', reason };
}

function isCseq(value: unknown): value is { value: number; method: string } {
  return typeof value === 'object' && value !== null && 'method' in value && typeof value.method === 'string';
}

function setVias(message: Core.IncomingMessage, values: string[], top: Via): void {
  message.headers.Via = values.map((raw) => ({ raw }));
  message.via = { host: top.host, port: top.port ?? DEFAULT_SIP_PORT };
  message.viaBranch = viaBranch(top) ?? '';
}
