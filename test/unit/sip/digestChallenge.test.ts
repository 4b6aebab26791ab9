import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DigestChallenger } from '../../../src/sip/digestChallenge.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const users = new Map([['alice', 'wonderland-42']]);

/** What a SIP client answers a challenge with (RFC 2617, qop=auth). */
function answer(challenge: string, opts: { user?: string; password?: string; realm?: string; method?: string; qop?: boolean } = {}): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const realm = opts.realm ?? 'legway';
  const user = opts.user ?? 'alice';
  const uri = 'sip:room@127.0.0.1';
  const ha1 = md5(`${user}:${realm}:${opts.password ?? 'wonderland-42'}`);
  const ha2 = md5(`${opts.method ?? 'INVITE'}:${uri}`);
  if (opts.qop === false) return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${md5(`${ha1}:${nonce}:${ha2}`)}"`;
  const response = md5(`${ha1}:${nonce}:00000001:c0ffee:auth:${ha2}`);
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", qop=auth, nc=00000001, cnonce="c0ffee", response="${response}", algorithm=MD5`;
}

describe('digest challenges for SIP callers', () => {
  it('accepts the right answer to its challenge, with or without qop', () => {
    const d = new DigestChallenger({ realm: 'legway', users });
    const challenge = d.challenge();
    expect(challenge).toMatch(/^Digest realm="legway", nonce="[^"]+", algorithm=MD5, qop="auth"$/);
    expect(d.check('INVITE', answer(challenge))).toBe('ok');
    expect(d.check('INVITE', answer(challenge, { qop: false }))).toBe('ok');
  });

  it('refuses wrong passwords, unknown users, other realms, another method, and garbage', () => {
    const d = new DigestChallenger({ realm: 'legway', users });
    const c = d.challenge();
    expect(d.check('INVITE', answer(c, { password: 'guess' }))).toBe('wrong');
    expect(d.check('INVITE', answer(c, { user: 'mallory' }))).toBe('wrong');
    expect(d.check('INVITE', answer(c, { realm: 'elsewhere' }))).toBe('wrong');
    expect(d.check('INVITE', answer(c, { method: 'OPTIONS' }))).toBe('wrong');
    expect(d.check('INVITE', 'Basic YWxpY2U6d29uZGVybGFuZA==')).toBe('wrong');
    expect(d.check('INVITE', `Digest ${'x'.repeat(5000)}`)).toBe('wrong');
    expect(d.check('INVITE', undefined)).toBe('missing');
  });

  it("refuses a nonce it did not make, and calls an old one of its own stale", () => {
    let now = 1_000_000;
    const d = new DigestChallenger({ realm: 'legway', users }, () => now);
    const other = new DigestChallenger({ realm: 'legway', users }, () => now);
    expect(d.check('INVITE', answer(other.challenge()))).toBe('wrong');
    const c = d.challenge();
    now += 6 * 60_000;
    expect(d.check('INVITE', answer(c))).toBe('stale');
    expect(d.challenge(true)).toMatch(/stale=true$/);
  });
});
