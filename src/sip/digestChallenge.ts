import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Digest authentication of callers (RFC 3261 22.4 with RFC 2617's MD5 and `qop=auth`): the
 * challenge a request from outside the trunk allowlist gets, and the check of its answer.
 * Nonces are stateless: a timestamp signed with a per-process key, valid for a few minutes, so
 * nothing is stored per caller and a replay after that is refused as stale.
 */

export interface DigestUsers {
  realm: string;
  /** user name → password */
  users: ReadonlyMap<string, string>;
}

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

  constructor(
    private readonly config: DigestUsers,
    private readonly now: () => number = Date.now,
  ) {}

  /** The `WWW-Authenticate` header value of a 401 (with `stale=true` when only the nonce was old). */
  challenge(stale = false): string {
    const nonce = this.nonce();
    return `Digest realm="${this.config.realm}", nonce="${nonce}", algorithm=MD5, qop="auth"${stale ? ', stale=true' : ''}`;
  }

  /** `ok` for a request whose Authorization answers one of our challenges; otherwise why not. */
  check(method: string, authorization: string | undefined): 'ok' | 'missing' | 'stale' | 'wrong' {
    if (authorization === undefined) return 'missing';
    const c = parse(authorization);
    if (!c) return 'wrong';
    const password = this.config.users.get(c.username);
    if (password === undefined || c.realm !== this.config.realm) return 'wrong';
    if ((c.algorithm ?? 'MD5').toUpperCase() !== 'MD5') return 'wrong';
    const age = this.nonceAge(c.nonce);
    if (age === undefined) return 'wrong';
    const ha1 = md5(`${c.username}:${c.realm}:${password}`);
    const ha2 = md5(`${method}:${c.uri}`);
    let expected: string;
    if (c.qop === undefined) expected = md5(`${ha1}:${c.nonce}:${ha2}`);
    else if (c.qop === 'auth' && c.nc !== undefined && c.cnonce !== undefined) expected = md5(`${ha1}:${c.nonce}:${c.nc}:${c.cnonce}:auth:${ha2}`);
    else return 'wrong';
    const given = Buffer.from(c.response.toLowerCase());
    if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected))) return 'wrong';
    return age > NONCE_LIFETIME_MS ? 'stale' : 'ok';
  }

  private nonce(): string {
    const stamp = this.now().toString(16);
    return `${stamp}.${this.sign(stamp)}`;
  }

  /** How old a nonce of ours is; undefined when it is not ours. */
  private nonceAge(nonce: string): number | undefined {
    const [stamp, mac] = nonce.split('.');
    if (stamp === undefined || mac === undefined || !/^[0-9a-f]{1,16}$/.test(stamp)) return undefined;
    const expected = this.sign(stamp);
    if (mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) return undefined;
    return this.now() - Number.parseInt(stamp, 16);
  }

  private sign(stamp: string): string {
    return createHmac('sha256', this.key).update(stamp).digest('base64url').slice(0, 22);
  }
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
