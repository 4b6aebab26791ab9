import { isIP } from 'node:net';
import { cseqMethod, headerValue, headerValues, type MessageHead } from './sipText.js';
import type { TcpConnection } from './tcpConnection.js';
import { DEFAULT_SIP_PORT, type SipSource } from './types.js';
import { formatVia, parseVia, splitViaValues, viaParam, type Via } from './via.js';

/**
 * How each request arrived, so that its responses leave the same way (RFC 3261 §18.2.2): over
 * TCP on the connection it came on, over UDP as a datagram — whatever transport its Via names. A
 * Via is the sender's word; the transport a request really used is ours. Nothing here ever opens
 * a connection.
 *
 * A request and its responses share the top Via (as stamped on arrival, so it names the source),
 * the Call-ID and the CSeq: together they key the record.
 */

export interface Arrival {
  readonly source: SipSource;
  /** The connection a TCP request came on. */
  readonly connection: TcpConnection | undefined;
  /** sip.js's id of the request's server transaction (see `transactionId.ts`). */
  readonly transactionId: string;
  /** The request's top Via as stamped on arrival (its responses carry it back): where a UDP response goes. */
  readonly topVia: Via;
  at: number;
}

/** The record key of a request: its stamped top Via (as written: `formatVia`), Call-ID, CSeq number and method. */
export function arrivalKey(topViaText: string, callId: string, cseq: number, method: string): string {
  return `${topViaText}\n${callId}\n${String(cseq)} ${method.toUpperCase()}`;
}

const WRITTEN_CSEQ = /^(\d{1,10}) ([A-Za-z0-9!%*_+`'~.-]+)$/;

/**
 * The status, CSeq method and record key of a response as sip.js writes it — its first `Via: ` line
 * (the stamped Via, copied back as `formatVia` wrote it), `Call-ID: ` and `CSeq: ` — read without
 * parsing the head; undefined when the text is not in that form (`responseArrivalKey` then reads it).
 */
export function writtenResponseKey(text: string): { status: number; method: string; key: string } | undefined {
  const statusText = text.slice(8, 11);
  if (!text.startsWith('SIP/2.0 ') || !/^[1-6]\d\d$/.test(statusText)) return undefined;
  let via: string | undefined;
  let callId: string | undefined;
  let cseq: string | undefined;
  let at = text.indexOf('\r\n') + 2;
  while (at > 1 && !text.startsWith('\r\n', at)) {
    const end = text.indexOf('\r\n', at);
    if (end < 0) return undefined;
    if (via === undefined && text.startsWith('Via: ', at)) via = text.slice(at + 5, end).trim();
    else if (callId === undefined && text.startsWith('Call-ID: ', at)) callId = text.slice(at + 9, end).trim();
    else if (cseq === undefined && text.startsWith('CSeq: ', at)) cseq = text.slice(at + 6, end).trim();
    at = end + 2;
  }
  const written = cseq === undefined ? null : WRITTEN_CSEQ.exec(cseq);
  if (via === undefined || callId === undefined || !written?.[1] || !written[2]) return undefined;
  return { status: Number(statusText), method: written[2], key: arrivalKey(via, callId, Number(written[1]), written[2]) };
}

/** The top Via of a head (the first value of the first Via line); undefined when absent or unreadable. */
export function topViaOf(head: MessageHead): Via | undefined {
  const topText = headerValues(head, 'via').flatMap(splitViaValues)[0];
  return topText === undefined ? undefined : parseVia(topText);
}

/**
 * The record key of the request a response (as sip.js wrote it) answers; undefined when unreadable.
 * `top` is the head's top Via when the caller has read it already (`topViaOf`).
 */
export function responseArrivalKey(head: MessageHead, top: Via | undefined = topViaOf(head)): string | undefined {
  const callId = headerValue(head, 'call-id');
  const cseq = headerValue(head, 'cseq');
  const method = cseqMethod(cseq);
  const number = Number(/^\s*(\d{1,10})/.exec(cseq ?? '')?.[1]);
  if (!top || callId === undefined || method === undefined || !Number.isFinite(number)) return undefined;
  return arrivalKey(formatVia(top), callId, number, method);
}

/**
 * Where a UDP response goes by its (stamped) top Via: `received` (the source address), else a
 * sent-by that is an IP address; `rport`, else the sent-by port. Never a name to look up.
 */
export function udpResponseTarget(via: Via): { address: string; port: number } | undefined {
  const received = viaParam(via, 'received')?.value;
  const address = received !== undefined && isIP(received) !== 0 ? received : isIP(via.host) !== 0 ? via.host : undefined;
  if (address === undefined) return undefined;
  const rport = viaParam(via, 'rport')?.value;
  const port = rport !== undefined && /^\d{1,5}$/.test(rport) && Number(rport) >= 1 && Number(rport) <= 65535 ? Number(rport) : (via.port ?? DEFAULT_SIP_PORT);
  return { address, port };
}

/**
 * The records, oldest first; each lives `ttlMs` from its last use (an INVITE may ring for minutes:
 * a proxy's Timer C is 3 min), at most `limit` of them (the oldest forgotten first).
 */
export class Arrivals {
  private readonly entries = new Map<string, Arrival>();

  constructor(
    private readonly ttlMs: number,
    private readonly limit: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  remember(key: string, arrival: Omit<Arrival, 'at'>): void {
    const now = Date.now();
    for (const [old, entry] of this.entries) {
      if (now - entry.at < this.ttlMs && this.entries.size < this.limit) break;
      this.entries.delete(old);
    }
    this.entries.delete(key);
    this.entries.set(key, { ...arrival, at: now });
  }

  /** The record of a key, refreshed (moved to the back) by the look-up. */
  find(key: string): Arrival | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (Date.now() - entry.at >= this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    entry.at = Date.now();
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  clear(): void {
    this.entries.clear();
  }
}
