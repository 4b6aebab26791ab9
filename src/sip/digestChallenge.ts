import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Grammar } from 'sip.js';
import { FailureThrottle, type FailureThrottleOptions } from './failureThrottle.js';
import { NonceCounts } from './nonceCounts.js';

/**
 * Digest authentication of callers (RFC 3261 22.4 with RFC 2617's MD5 and `qop=auth`): the
 * challenge a request from outside the trunk allowlist gets, and the check of its answer.
 *
 * Nonces are signed (a timestamp and random bytes, with an HMAC under a per-process key) and valid
 * for a few minutes. An answer is good only for the request it was made for and only once:
 * - its `uri` must be the request's Request-URI (or the same credentials would place a call to any
 *   number);
 * - its nonce count must rise with each use of a nonce (`nonceCounts.ts`), so a captured request
 *   cannot be sent again.
 * Addresses that fail too often are refused unchecked for a while (`failureThrottle.ts`).
 */

export interface DigestUsers {
  realm: string;
  /** user name → password */
  users: ReadonlyMap<string, string>;
}

/** The request being authenticated. */
export interface DigestRequest {
  readonly method: string;
  /** The Request-URI as the request line has it. */
  readonly requestUri: string;
  readonly authorization: string | undefined;
}

/** `ok`; `missing` or `stale` (challenge, again); `wrong` or `replayed` (refuse); `throttled` (refuse, unchecked). */
export type DigestVerdict = 'ok' | 'missing' | 'stale' | 'wrong' | 'replayed' | 'throttled';

/** What a request's Authorization header says, for the fields digest needs. */
interface Credentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
  algorithm?: string;
}

const NONCE_LIFETIME_MS = 5 * 60_000;
const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

export class DigestChallenger {
  private readonly key = randomBytes(32);
  private readonly counts = new NonceCounts(NONCE_LIFETIME_MS);
  private readonly throttle: FailureThrottle;

  constructor(
    private readonly config: DigestUsers,
    private readonly now: () => number = Date.now,
    throttle: FailureThrottleOptions = {},
  ) {
    this.throttle = new FailureThrottle(throttle, now);
  }

  /** The `WWW-Authenticate` header value of a 401 (with `stale=true` when only the nonce was old). */
  challenge(stale = false): string {
    const nonce = this.nonce();
    return `Digest realm="${this.config.realm}", nonce="${nonce}", algorithm=MD5, qop="auth"${stale ? ', stale=true' : ''}`;
  }

  /** Whether a request from `address` answers one of our challenges; a `wrong` or `replayed` one counts against the address. */
  check(request: DigestRequest, address: string): DigestVerdict {
    if (this.throttle.blocked(address)) return 'throttled';
    const verdict = this.verify(request);
    if (verdict === 'wrong' || verdict === 'replayed') this.throttle.fail(address);
    return verdict;
  }

  private verify({ method, requestUri, authorization }: DigestRequest): Exclude<DigestVerdict, 'throttled'> {
    if (authorization === undefined) return 'missing';
    const c = parse(authorization);
    if (!c) return 'wrong';
    const password = this.config.users.get(c.username);
    if (password === undefined || c.realm !== this.config.realm) return 'wrong';
    if ((c.algorithm ?? 'MD5').toUpperCase() !== 'MD5') return 'wrong';
    const issuedAt = this.nonceIssuedAt(c.nonce);
    if (issuedAt === undefined) return 'wrong';
    let nc = 0;
    const ha1 = md5(`${c.username}:${c.realm}:${password}`);
    const ha2 = md5(`${method}:${c.uri}`);
    let expected: string;
    if (c.qop === undefined) expected = md5(`${ha1}:${c.nonce}:${ha2}`);
    else if (c.qop === 'auth' && c.nc !== undefined && /^[0-9a-fA-F]{8}$/.test(c.nc) && c.cnonce !== undefined) {
      expected = md5(`${ha1}:${c.nonce}:${c.nc}:${c.cnonce}:auth:${ha2}`);
      nc = Number.parseInt(c.nc, 16);
    } else return 'wrong';
    const given = Buffer.from(c.response.toLowerCase());
    if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected))) return 'wrong';
    // Right for some request: for this one only if it names this Request-URI.
    if (!sameUri(c.uri, requestUri)) return 'wrong';
    const now = this.now();
    if (now - issuedAt > NONCE_LIFETIME_MS) return 'stale';
    const use = this.counts.use(c.nonce, issuedAt, nc, now);
    if (use === 'forgotten') return 'stale';
    return use;
  }

  private nonce(): string {
    const body = `${this.now().toString(16)}.${randomBytes(9).toString('base64url')}`;
    return `${body}.${this.sign(body)}`;
  }

  /** When a nonce of ours was issued; undefined when it is not ours. */
  private nonceIssuedAt(nonce: string): number | undefined {
    const [stamp, salt, mac, extra] = nonce.split('.');
    if (stamp === undefined || salt === undefined || mac === undefined || extra !== undefined || !/^[0-9a-f]{1,16}$/.test(stamp)) return undefined;
    const expected = this.sign(`${stamp}.${salt}`);
    if (mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) return undefined;
    return Number.parseInt(stamp, 16);
  }

  private sign(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url').slice(0, 22);
  }
}

/** The digest `uri` names the Request-URI: the same text, or the same URI once both are parsed. */
function sameUri(digestUri: string, requestUri: string): boolean {
  if (digestUri === requestUri) return true;
  const a = Grammar.URIParse(digestUri);
  const b = Grammar.URIParse(requestUri);
  return a !== undefined && b !== undefined && a.toString() === b.toString();
}

/** Parses `Digest k="v", k=v, …`; undefined when a required field is missing or it is not Digest. */
function parse(header: string): Credentials | undefined {
  const match = /^\s*Digest\s+(.*)$/is.exec(header);
  if (!match?.[1] || match[1].length > 4096) return undefined;
  const fields = new Map<string, string>();
  for (const part of match[1].matchAll(/([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))/g)) {
    const key = part[1]?.toLowerCase();
    if (key !== undefined) fields.set(key, part[2] ?? part[3] ?? '');
  }
  const username = fields.get('username');
  const realm = fields.get('realm');
  const nonce = fields.get('nonce');
  const uri = fields.get('uri');
  const response = fields.get('response');
  if (username === undefined || realm === undefined || nonce === undefined || uri === undefined || response === undefined) return undefined;
  const optional = (k: string): Record<string, string> => {
    const v = fields.get(k);
    return v === undefined ? {} : { [k]: v };
  };
  return { username, realm, nonce, uri, response, ...optional('qop'), ...optional('nc'), ...optional('cnonce'), ...optional('algorithm') };
}
