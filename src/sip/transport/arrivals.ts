import { isIP } from 'node:net';
import { cseqMethod, headerValue, headerValues, parseStatusLine, readHead, type MessageHead } from './sipText.js';
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

/** Where a response goes: its request's record (and that record's key) when one is known, and its top Via. */
export interface ResponseRoute {
  status: number;
  method: string | undefined;
  key: string | undefined;
  arrival: Arrival | undefined;
  via: Via;
}

/**
 * The records, oldest first, in two sets. A request waiting for its final response is kept
 * `ttlMs` from its last use (an INVITE may ring for minutes: a proxy's Timer C is 3 min). Once its
 * final response has gone out (`settle`), an INVITE's record is kept only `answeredTtlMs` from its
 * last use — 64·T1, as long as its 2xx is retransmitted (RFC 6026 Timer L) or its rejection waits
 * for the ACK (Timer H) — and any other request's is forgotten at once: its retransmission, if any,
 * arrives and is remembered anew. So the records follow the requests in progress, not the call
 * rate times five minutes. Each set holds at most `limit` records (the oldest forgotten first).
 */
export class Arrivals {
  /** A transport's records: five minutes unanswered (a proxy's Timer C is 3 min), 64·T1 for an answered INVITE, 100,000 a set. */
  static forTransport(t1Ms: number): Arrivals {
    return new Arrivals(5 * 60_000, 100_000, 64 * t1Ms);
  }

  private readonly open = new Map<string, Arrival>();
  private readonly answered = new Map<string, Arrival>();

  constructor(
    private readonly ttlMs: number,
    private readonly limit: number,
    private readonly answeredTtlMs: number,
  ) {}

  /** Records kept (expired ones go when the next request is remembered or answered). */
  get size(): number {
    return this.open.size + this.answered.size;
  }

  remember(key: string, arrival: Omit<Arrival, 'at'>): void {
    const now = Date.now();
    this.forgetExpired(this.open, this.ttlMs, now);
    this.open.delete(key);
    this.answered.delete(key);
    this.open.set(key, { ...arrival, at: now });
  }

  /** The record of a key, refreshed (moved to the back of its set) by the look-up. */
  find(key: string): Arrival | undefined {
    return this.refreshed(this.open, key, this.ttlMs) ?? this.refreshed(this.answered, key, this.answeredTtlMs);
  }

  /**
   * Where a response (as sip.js wrote it) goes. The usual case, a response to a request that came
   * in, is found by the lines sip.js copied from the request, without its head being parsed; any
   * other is read from its head. Throws when it has no readable status line or Via.
   */
  routeOf(text: string): ResponseRoute {
    const written = writtenResponseKey(text);
    const known = written && this.find(written.key);
    if (written && known) return { status: written.status, method: written.method, key: written.key, arrival: known, via: known.topVia };
    const head = readHead(text);
    const status = parseStatusLine(head.startLine)?.status;
    const via = topViaOf(head);
    if (status === undefined || !via) throw new Error('response without a readable status line or Via');
    const key = responseArrivalKey(head, via);
    return { status, method: cseqMethod(headerValue(head, 'cseq')), key, arrival: key === undefined ? undefined : this.find(key), via };
  }

  /** The request of `key` (its CSeq method `method`) has had its final response. */
  settle(key: string, method: string | undefined): void {
    const now = Date.now();
    this.forgetExpired(this.answered, this.answeredTtlMs, now);
    const entry = this.open.get(key) ?? this.answered.get(key);
    if (!entry) return;
    this.open.delete(key);
    this.answered.delete(key);
    if (method !== 'INVITE') return;
    entry.at = now;
    this.answered.set(key, entry);
  }

  clear(): void {
    this.open.clear();
    this.answered.clear();
  }

  private refreshed(entries: Map<string, Arrival>, key: string, ttlMs: number): Arrival | undefined {
    const entry = entries.get(key);
    if (!entry) return undefined;
    const now = Date.now();
    entries.delete(key);
    if (now - entry.at >= ttlMs) return undefined;
    entry.at = now;
    entries.set(key, entry);
    return entry;
  }

  /** Forgets, oldest first, the records past `ttlMs` and those over the limit (making room for one more). */
  private forgetExpired(entries: Map<string, Arrival>, ttlMs: number, now: number): void {
    for (const [old, entry] of entries) {
      if (now - entry.at < ttlMs && entries.size < this.limit) break;
      entries.delete(old);
    }
  }
}
