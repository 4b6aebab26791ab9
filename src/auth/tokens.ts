import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { fail } from '../domain/errors.js';
import { ROLES, type Principal, type Role } from './principal.js';

const ALG = 'HS256';
const encoder = new TextEncoder();

const claimsSchema = z.object({
  sub: z.string().min(1).max(200),
  role: z.enum(ROLES).default('user'),
  exp: z.number(),
  application_id: z.string().optional(),
  join: z.array(z.string().min(1).max(200)).max(100).optional(),
});

export interface MintOptions {
  sub: string;
  role: Role;
  /** Lifetime in seconds. */
  ttlSeconds: number;
  applicationId: string;
  join?: readonly string[];
  now?: Date;
}

/** Signs a token for `sub` with the configured secret (HS256). */
export async function mintToken(secret: string, options: MintOptions): Promise<string> {
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const claims: Record<string, unknown> = { role: options.role, application_id: options.applicationId };
  if (options.join && options.join.length > 0) claims.join = [...options.join];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: ALG, typ: 'JWT' })
    .setSubject(options.sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + options.ttlSeconds)
    .setJti(randomUUID())
    .sign(encoder.encode(secret));
}

/** Verifies tokens against one secret and application id; failures are `Unauthorized` with the reason. */
export class TokenVerifier {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly applicationId: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.key = encoder.encode(secret);
  }

  async verify(token: unknown): Promise<Principal> {
    if (typeof token !== 'string' || token.length === 0) throw fail('Unauthorized', 'missing token');
    if (token.length > 8192) throw fail('Unauthorized', 'token too long');
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, this.key, { algorithms: [ALG], currentDate: this.now() }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw fail('Unauthorized', 'token expired');
      if (err instanceof errors.JWSSignatureVerificationFailed) throw fail('Unauthorized', 'token signature invalid');
      if (err instanceof errors.JOSEAlgNotAllowed) throw fail('Unauthorized', 'token algorithm not allowed (HS256 only)');
      if (err instanceof errors.JWTClaimValidationFailed) throw fail('Unauthorized', `token claim invalid: ${err.claim}`);
      throw fail('Unauthorized', 'token malformed');
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) {
      const path = claims.error.issues[0]?.path.join('.') ?? 'claims';
      throw fail('Unauthorized', `token claim invalid: ${path}`);
    }
    if (claims.data.application_id !== undefined && claims.data.application_id !== this.applicationId) {
      throw fail('Unauthorized', 'token is for another application');
    }
    return { role: claims.data.role, sub: claims.data.sub, join: claims.data.join ?? [] };
  }
}

/** Parses a duration such as `90s`, `15m`, `24h`, `7d` (or plain seconds) into seconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!match) return undefined;
  const n = Number(match[1]);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  const seconds = n * unit;
  return seconds > 0 && seconds <= 366 * 86400 ? seconds : undefined;
}
