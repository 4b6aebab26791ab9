/** Hand-made tokens, for tests of what the gateway refuses, and reading a minted token's claims. */
import { decodeJwt, SignJWT } from 'jose';
import type { TestGateway } from './gateway.js';

/** Signs `claims` exactly as given (HS256): nothing is added, so a test can leave any claim out. */
export function signClaims(secret: string, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

/** The claims of a valid one-hour token of `g` for `sub` and `role`, for a test to alter. */
export function validClaims(g: TestGateway, sub: string, role: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { sub, role, iat: now, exp: now + 3600, jti: `test-${sub}-${now}-${Math.random()}`, application_id: g.app.config.applicationId, token_type: 'access' };
}

/** The id (`jti`) of a minted token. */
export function jtiOf(token: string): string {
  const { jti } = decodeJwt(token);
  if (typeof jti !== 'string') throw new Error('token has no jti');
  return jti;
}

/** The `connect_error` of a socket handshake that must fail; throws when the handshake succeeds. */
export async function handshakeRefusal(g: TestGateway, token: string, namespace?: string): Promise<Error & { data?: { code?: string } }> {
  try {
    await g.connect(token, namespace === undefined ? {} : { namespace });
  } catch (err) {
    return err as Error & { data?: { code?: string } };
  }
  throw new Error('the handshake succeeded');
}
