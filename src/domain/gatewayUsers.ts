/**
 * Users the gateway makes itself (a SIP caller, an outbound callee) live in a namespace no token
 * can claim: their names start with a reserved prefix, and token subjects with that prefix are
 * refused wherever tokens are minted or verified. Otherwise a token whose `sub` is `sip-+15551234`
 * would be that caller's member everywhere: its history, its events, its call.
 *
 * The prefix is the one gateway-made names always had, so stored users and members keep their
 * names and need no migration.
 */

/** Prefix of the names of gateway-made users. */
export const GATEWAY_USER_PREFIX = 'sip-';

/** The name of the user the gateway makes for a SIP party (`+15551234` → `sip-+15551234`). */
export function sipPartyUserName(sipUser: string): string {
  return `${GATEWAY_USER_PREFIX}${sipUser}`;
}

/**
 * True when `name` lies in the gateway's namespace. Case-insensitive, so that `SIP-…` cannot pass
 * for a gateway-made user on a page or in a log even though the store compares names exactly.
 */
export function isGatewayUserName(name: string): boolean {
  return name.slice(0, GATEWAY_USER_PREFIX.length).toLowerCase() === GATEWAY_USER_PREFIX;
}
