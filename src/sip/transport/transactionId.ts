import { createHash } from 'node:crypto';
import { DEFAULT_SIP_PORT } from './types.js';
import { formatVia, viaBranch, type Via } from './via.js';

/**
 * The server transaction a request belongs to (RFC 3261 §17.2.3), as one id that sip.js's core
 * can use: it keys its server transactions by `message.viaBranch` alone (rule 1 of three), so two
 * clients that happen to pick one branch — RFC 4475's examples share `z9hG4bKkdjuw` — would land
 * in one transaction, and the second would never be answered. Here:
 *
 * - a branch with the magic cookie counts with the top Via's sent-by and the method (ACK and
 *   CANCEL go with the INVITE they refer to: sip.js looks their INVITE up by this id);
 * - without the cookie (RFC 2543 clients, often with no branch at all) the request is matched by
 *   Request-URI, To tag, From tag, Call-ID, CSeq and top Via, hashed into an id of its own. An ACK
 *   takes its INVITE's id only while that INVITE's transaction awaits it (a non-2xx was sent);
 *   otherwise (the ACK of a 2xx) it must reach the dialog, which sip.js would not let it if the
 *   ids were equal.
 *
 * Ids of the two kinds cannot collide: the first begins with the cookie, the second never does.
 */

const MAGIC_COOKIE = 'z9hG4bK';

export interface TransactionParts {
  readonly method: string;
  /** The top Via as received (before `received`/`rport` are stamped). */
  readonly topVia: Via;
  readonly requestUri: string;
  readonly callId: string;
  readonly cseq: number;
  readonly fromTag: string | undefined;
  readonly toTag: string | undefined;
}

/** Whether a branch was made by an RFC 3261 client (starts with the magic cookie, and has more). */
export function hasMagicCookie(branch: string | undefined): branch is string {
  return branch !== undefined && branch.startsWith(MAGIC_COOKIE) && branch.length > MAGIC_COOKIE.length;
}

/**
 * The transaction id of a request. `awaitsAck(id)` says whether the INVITE server transaction of
 * that id has sent a non-2xx final response and waits for its ACK.
 */
export function serverTransactionId(parts: TransactionParts, awaitsAck: (id: string) => boolean): string {
  const method = parts.method.toUpperCase();
  const methodClass = method === 'ACK' || method === 'CANCEL' ? 'INVITE' : method;
  const branch = viaBranch(parts.topVia);
  if (hasMagicCookie(branch)) return `${branch}|${sentBy(parts.topVia)}|${methodClass}`;
  if (method !== 'ACK') return rfc2543Id(parts, methodClass, parts.toTag);
  // The ACK of a non-2xx carries the To tag of our response, which its INVITE may not have had.
  for (const toTag of [undefined, parts.toTag]) {
    const id = rfc2543Id(parts, 'INVITE', toTag);
    if (awaitsAck(id)) return id;
  }
  return rfc2543Id(parts, 'ACK', parts.toTag);
}

function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${String(via.port ?? DEFAULT_SIP_PORT)}`;
}

function rfc2543Id(parts: TransactionParts, methodClass: string, toTag: string | undefined): string {
  const fields = [methodClass, parts.requestUri, toTag ?? '', parts.fromTag ?? '', parts.callId, String(parts.cseq), formatVia(parts.topVia)];
  return `rfc2543.${createHash('sha256').update(fields.join('\n')).digest('base64url').slice(0, 22)}`;
}
