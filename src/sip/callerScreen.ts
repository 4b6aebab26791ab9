import type { Core } from 'sip.js';
import type { DigestChallenger } from './digestChallenge.js';
import type { SipSource } from './transport/types.js';

/**
 * Who may start something with the gateway (a call, an OPTIONS): a source address in the trunk
 * allowlist, or, when callers are configured, one that passes digest authentication (RFC 3261
 * §22). Requests inside a dialog or transaction are the peer's business (`dialogPeers.ts`) and do
 * not come here.
 */

/** Why a request was refused, and how to answer it. */
export type Refusal =
  /** Outside the trunks, no callers configured. */
  | { readonly reason: 'untrusted'; readonly status: 403; readonly headers: readonly string[] }
  /** Credentials missing or stale: a 401 with a challenge. */
  | { readonly reason: 'challenge'; readonly status: 401; readonly headers: readonly string[] }
  /** The address failed too often lately: refused unchecked. */
  | { readonly reason: 'throttled'; readonly status: 403; readonly headers: readonly string[] }
  /** Wrong credentials, credentials for another request, or a replay. */
  | { readonly reason: 'wrong' | 'replayed'; readonly status: 403; readonly headers: readonly string[] };

export class CallerScreen {
  constructor(
    private readonly isTrusted: (address: string) => boolean,
    private readonly digest: DigestChallenger | undefined,
  ) {}

  /** Undefined when the request may go on; else the refusal. */
  refusal(message: Core.IncomingRequestMessage, source: SipSource): Refusal | undefined {
    if (this.isTrusted(source.address)) return undefined;
    const digest = this.digest;
    if (!digest) return { reason: 'untrusted', status: 403, headers: [] };
    // ACK and CANCEL are never challenged (RFC 3261 22.1): they go with an INVITE that was.
    if (message.method === 'ACK' || message.method === 'CANCEL') return undefined;
    const verdict = digest.check(
      { method: message.method, requestUri: requestUriText(message), authorization: message.getHeader('authorization') },
      source.address,
    );
    switch (verdict) {
      case 'ok':
        return undefined;
      case 'missing':
      case 'stale':
        return { reason: 'challenge', status: 401, headers: [`WWW-Authenticate: ${digest.challenge(verdict === 'stale')}`] };
      case 'throttled':
        return { reason: 'throttled', status: 403, headers: [] };
      case 'wrong':
      case 'replayed':
        return { reason: verdict, status: 403, headers: [] };
    }
  }
}

/** The Request-URI as the request line has it (what a digest `uri` must name). */
export function requestUriText(message: Core.IncomingRequestMessage): string {
  return /^\S+ (\S+) /.exec(message.data)?.[1] ?? message.ruri?.toString() ?? '';
}
