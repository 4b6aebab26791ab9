import { randomBytes } from 'node:crypto';
import { headerValue, headerValues, parseHead, parseRequestLine } from './sipText.js';
import { formatVia, parseVia, splitViaValues, stampVia, type Via } from './via.js';

/**
 * Stateless error responses to requests that never reach sip.js (unparseable, oversized, truncated):
 * built from the raw header lines, as RFC 3261 §8.2.6 builds any response, when the head is readable
 * enough to address one. Requests with less than that, and every ACK, get nothing.
 */

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  513: 'Message Too Large',
};

/** A ready-to-send response and the (stamped) top Via that routes it. */
export interface RawResponse {
  readonly text: string;
  readonly topVia: Via;
}

/** The response, or undefined when the head is not a request or lacks Via, From, To, Call-ID or CSeq. */
export function rawErrorResponse(
  headText: string,
  status: number,
  source: { address: string; port: number },
  reason = REASONS[status] ?? 'Error',
): RawResponse | undefined {
  const head = parseHead(headText);
  if (!head) return undefined;
  const requestLine = parseRequestLine(head.startLine);
  if (!requestLine || requestLine.method.toUpperCase() === 'ACK') return undefined;
  const vias = headerValues(head, 'via').flatMap(splitViaValues);
  const from = headerValue(head, 'from');
  const to = headerValue(head, 'to');
  const callId = headerValue(head, 'call-id');
  const cseq = headerValue(head, 'cseq');
  const [top, ...rest] = vias;
  if (top === undefined || from === undefined || to === undefined || callId === undefined || cseq === undefined) return undefined;
  const topVia = parseVia(top);
  if (!topVia) return undefined;
  const stamped = stampVia(topVia, source);
  const toWithTag = /;\s*tag\s*=/i.test(to) ? to : `${to};tag=${randomBytes(6).toString('hex')}`;
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    `Via: ${formatVia(stamped)}`,
    ...rest.map((v) => `Via: ${v}`),
    `From: ${from}`,
    `To: ${toWithTag}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq}`,
    'Content-Length: 0',
  ];
  return { text: `${lines.join('\r\n')}\r\n\r\n`, topVia: stamped };
}
