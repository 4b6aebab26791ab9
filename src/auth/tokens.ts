import { randomUUID } from 'node:crypto';
import { createSigner, createVerifier, TokenError } from 'fast-jwt';
import { z } from 'zod';
import { fail } from '../domain/errors.js';
import { GATEWAY_USER_PREFIX, isGatewayUserName } from '../domain/gatewayUsers.js';
import { ROLES, type Principal, type Role } from './principal.js';

const ALG = 'HS256';

/** The `token_type` of the gateway's access tokens: nothing else signed with any key passes for one. */
export const ACCESS_TOKEN_TYPE = 'access';

/** How far in the future a token's `iat` may lie (the minting machine's clock may run ahead). */
const IAT_SKEW_SECONDS = 60;

/** Why a subject cannot be a token's, or undefined when it can. */
export function subjectProblem(sub: string): string | undefined {
  if (sub.length === 0 || sub.length > 200) return 'must be 1-200 characters';
  // eslint-disable-next-line no-control-regex -- the point is to refuse control characters
  if (/[\u0000-\u001f\u007f]/.test(sub)) return 'must not contain control characters';
  if (isGatewayUserName(sub)) return `names starting with "${GATEWAY_USER_PREFIX}" are reserved for the gateway's SIP callers and callees`;
  return undefined;
}

const claimsSchema = z.object({
  sub: z.string().superRefine((sub, ctx) => {
    const problem = subjectProblem(sub);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }),
  role: z.enum(ROLES).default('user'),
  exp: z.number(),
  iat: z.number(),
  jti: z.string().min(1).max(200),
  application_id: z.string(),
  token_type: z.literal(ACCESS_TOKEN_TYPE),
  join: z.array(z.string().min(1).max(200)).max(100).optional(),
});

/** Claims every token must carry; a token without one is refused naming it. */
const REQUIRED = ['sub', 'exp', 'iat', 'jti', 'application_id', 'token_type'] as const;

export interface MintOptions {
  sub: string;
  role: Role;
  /** Lifetime in seconds. */
  ttlSeconds: number;
  applicationId: string;
  join?: readonly string[];
  now?: Date;
}

/** What was minted: the token, and its id (`jti`) for revoking it. */
export interface Minted {
  token: string;
  jti: string;
}

/** Signs a token for `sub` with the configured secret (HS256), with a fresh `jti`; a reserved subject throws `ValidationFailed`. */
export async function mintToken(secret: string, options: MintOptions): Promise<string> {
  return (await mintTokenWithId(secret, options)).token;
}

/** Like `mintToken`, also returning the token's id. */
export function mintTokenWithId(secret: string, options: MintOptions): Promise<Minted> {
  // Synchronous (node:crypto); a throw inside the executor becomes the rejection.
  return new Promise((resolve) => {
    const problem = subjectProblem(options.sub);
    if (problem !== undefined) throw fail('ValidationFailed', `token subject ${problem}`);
    const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
    const jti = randomUUID();
    const claims: Record<string, unknown> = { role: options.role, application_id: options.applicationId, token_type: ACCESS_TOKEN_TYPE };
    if (options.join && options.join.length > 0) claims.join = [...options.join];
    // fast-jwt keeps the payload's own iat; exp and jti are set here too, so nothing depends on its clock.
    const sign = createSigner({ key: secret, algorithm: ALG });
    resolve({ token: sign({ ...claims, sub: options.sub, iat, exp: iat + options.ttlSeconds, jti }), jti });
  });
}

/** The ids of revoked tokens, as the verifier asks about them. */
export interface RevocationCheck {
  has(jti: string): boolean;
}

export interface VerifierOptions {
  secret: string;
  applicationId: string;
  /** Longest lifetime (`exp - iat`) accepted, in seconds. */
  maxTtlSeconds: number;
  revoked?: RevocationCheck;
  now?: () => Date;
}

/** Verifies tokens against one secret and application id; failures are `Unauthorized` with the reason. */
export class TokenVerifier {
  /**
   * Signature, algorithm and shape, checked synchronously with node:crypto (fast-jwt): a WebCrypto
   * verify is a job on libuv's thread pool, about 7× the CPU, on every REST request and handshake.
   * Times are checked below, against the injected clock.
   */
  private readonly check: (token: string) => unknown;
  private readonly now: () => Date;

  constructor(private readonly options: VerifierOptions) {
    this.check = createVerifier({ key: options.secret, algorithms: [ALG], ignoreExpiration: true, ignoreNotBefore: true, cache: false });
    this.now = options.now ?? (() => new Date());
  }

  /** The token's principal; rejects with `Unauthorized` naming the reason. */
  verify(token: unknown): Promise<Principal> {
    // The check itself is synchronous; a throw inside the executor becomes the rejection.
    return new Promise((resolve) => resolve(this.principalOf(token)));
  }

  private principalOf(token: unknown): Principal {
    if (typeof token !== 'string' || token.length === 0) throw fail('Unauthorized', 'missing token');
    if (token.length > 8192) throw fail('Unauthorized', 'token too long');
    const now = this.now();
    let payload: Record<string, unknown>;
    try {
      payload = this.check(token) as Record<string, unknown>;
    } catch (err) {
      throw fail('Unauthorized', refusalOf(err));
    }
    // Times against the injected clock, in whole seconds, as RFC 7519 counts them.
    const seconds = Math.floor(now.getTime() / 1000);
    if (payload.exp !== undefined && typeof payload.exp !== 'number') throw fail('Unauthorized', 'token claim invalid: exp');
    if (typeof payload.exp === 'number' && payload.exp <= seconds) throw fail('Unauthorized', 'token expired');
    if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > seconds)) throw fail('Unauthorized', 'token claim invalid: nbf');
    const missing = REQUIRED.find((claim) => payload[claim] === undefined);
    if (missing !== undefined) throw fail('Unauthorized', `token lacks the ${missing} claim`);
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) {
      const issue = claims.error.issues[0];
      const path = issue?.path.join('.') ?? 'claims';
      throw fail('Unauthorized', `token claim invalid: ${path}${issue?.code === 'custom' ? ` (${issue.message})` : ''}`);
    }
    const c = claims.data;
    if (c.application_id !== this.options.applicationId) throw fail('Unauthorized', 'token is for another application');
    if (c.iat > now.getTime() / 1000 + IAT_SKEW_SECONDS) throw fail('Unauthorized', 'token claim invalid: iat (in the future)');
    if (c.exp - c.iat > this.options.maxTtlSeconds) {
      throw fail('Unauthorized', `token lifetime exceeds the gateway's maximum of ${this.options.maxTtlSeconds} s`);
    }
    if (this.options.revoked?.has(c.jti)) throw fail('Unauthorized', 'token revoked');
    return { role: c.role, sub: c.sub, join: c.join ?? [], jti: c.jti };
  }
}

/** Why fast-jwt refused a token, in the words a client is told. */
function refusalOf(err: unknown): string {
  if (!(err instanceof TokenError)) return 'token malformed';
  switch (err.code) {
    case TokenError.codes.invalidSignature:
    case TokenError.codes.missingSignature:
      return 'token signature invalid';
    case TokenError.codes.invalidAlgorithm:
      return 'token algorithm not allowed (HS256 only)';
    case TokenError.codes.invalidCritHeader:
      return 'token header invalid: crit';
    default:
      return 'token malformed';
  }
}
