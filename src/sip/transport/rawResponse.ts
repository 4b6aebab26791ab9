import { randomBytes } from 'node:crypto';
import { headerValue, headerValues, parseHead } from './sipText.js';
import { formatVia, parseVia, splitViaValues, stampVia, type Via } from './via.js';

/**
 * Stateless error responses to requests that never reach sip.js (unparseable, oversized, truncated,
 * invalid): built from the raw header lines, as RFC 3261 §8.2.6 builds any response, when the head
 * is readable enough to address one. Requests with less than that, and every ACK, get nothing.
 */

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  505: 'Version Not Supported',
  513: 'Message Too Large',
};

/** A ready-to-send response and the (stamped) top Via that routes it, when it could be read. */
export interface RawResponse {
  readonly text: string;
  readonly topVia: Via | undefined;
}

export interface RawResponseOptions {
  /**
   * The response goes on the connection the request came on, so an unreadable Via need not route
   * it: the Via lines are copied back as they came (RFC 4475's badvers names `SIP/7.0/UDP`).
   */
  readonly onConnection?: boolean;
}

/** The response, or undefined when the head is not a request or lacks Via, From, To, Call-ID or CSeq. */
export function rawErrorResponse(
  headText: string,
  status: number,
  source: { address: string; port: number },
  reason = REASONS[status] ?? 'Error',
  options: RawResponseOptions = {},
): RawResponse | undefined {
  const head = parseHead(headText);
  if (!head || head.startLine.startsWith('SIP/')) return undefined;
  // Only the method matters here, read leniently: a request line with extra spaces still names one.
  const method = /^\s*(\S+)/.exec(head.startLine)?.[1];
  if (method === undefined || method.toUpperCase() === 'ACK') return undefined;
  const vias = headerValues(head, 'via').flatMap(splitViaValues);
  const from = headerValue(head, 'from');
  const to = headerValue(head, 'to');
  const callId = headerValue(head, 'call-id');
  const cseq = headerValue(head, 'cseq');
  const [top, ...rest] = vias;
  if (top === undefined || from === undefined || to === undefined || callId === undefined || cseq === undefined) return undefined;
  const topVia = parseVia(top);
  if (!topVia && !options.onConnection) return undefined;
  const stamped = topVia && stampVia(topVia, source);
  const toWithTag = /;\s*tag\s*=/i.test(to) ? to : `${to};tag=${randomBytes(6).toString('hex')}`;
  const lines = [
    `SIP/2.0 ${String(status)} ${reason}`,
    `Via: ${stamped ? formatVia(stamped) : top}`,
    ...rest.map((v) => `Via: ${v}`),
    `From: ${from}`,
    `To: ${toWithTag}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq}`,
    'Content-Length: 0',
  ];
  return { text: `${lines.join('\r\n')}\r\n\r\n`, topVia: stamped };
}
