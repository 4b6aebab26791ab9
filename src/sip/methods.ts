/**
 * Which SIP methods the gateway handles. RFC 3261 §8.2.1: a method the UAS recognises but does not
 * support gets 405 with an Allow header; one it does not recognise gets 501.
 */

/** Methods the gateway handles (INFO inside a dialog, for DTMF). */
export const ALLOWED_METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'INFO'] as const;

/** Methods defined by RFC 3261 and its common extensions, recognised but not all supported. */
const KNOWN_METHODS = new Set<string>([...ALLOWED_METHODS, 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'REFER', 'MESSAGE', 'UPDATE']);

/** Body types the gateway reads: SDP offers and answers, and SIP INFO DTMF. */
export const ACCEPTED_BODY_TYPES = ['application/sdp', 'application/dtmf-relay'] as const;

/** Option tags the gateway supports: session timers (RFC 4028), with the caller refreshing. */
export const SUPPORTED_OPTION_TAGS: readonly string[] = ['timer'];

export const ALLOW_HEADER = `Allow: ${ALLOWED_METHODS.join(', ')}`;
export const ACCEPT_HEADER = `Accept: ${ACCEPTED_BODY_TYPES.join(', ')}`;

/** How the gateway treats a request method. */
export function methodSupport(method: string): 'allowed' | 'not-allowed' | 'unknown' {
  if ((ALLOWED_METHODS as readonly string[]).includes(method)) return 'allowed';
  return KNOWN_METHODS.has(method) ? 'not-allowed' : 'unknown';
}

/** Option tags in a Require header value that the gateway does not support (RFC 3261 §8.2.2.3). */
export function unsupportedRequirements(requireValues: readonly string[]): string[] {
  return requireValues
    .flatMap((value) => value.split(','))
    .map((tag) => tag.trim())
    .filter((tag) => tag !== '' && !SUPPORTED_OPTION_TAGS.includes(tag.toLowerCase()));
}
