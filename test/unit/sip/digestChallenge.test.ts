import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DigestChallenger, type DigestRequest } from '../../../src/sip/digestChallenge.js';
import { FailureThrottle } from '../../../src/sip/failureThrottle.js';
import { NonceCounts } from '../../../src/sip/nonceCounts.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const users = new Map([['alice', 'wonderland-42']]);
const URI = 'sip:room@127.0.0.1';
const HOST = '192.0.2.10';

interface AnswerOptions {
  user?: string;
  password?: string;
  realm?: string;
  method?: string;
  qop?: boolean;
  uri?: string;
  nc?: number;
}

/** What a SIP client answers a challenge with (RFC 2617, qop=auth). */
function answer(challenge: string, opts: AnswerOptions = {}): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const realm = opts.realm ?? 'legway';
  const user = opts.user ?? 'alice';
  const uri = opts.uri ?? URI;
  const ha1 = md5(`${user}:${realm}:${opts.password ?? 'wonderland-42'}`);
  const ha2 = md5(`${opts.method ?? 'INVITE'}:${uri}`);
  if (opts.qop === false) return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${md5(`${ha1}:${nonce}:${ha2}`)}"`;
  const nc = (opts.nc ?? 1).toString(16).padStart(8, '0');
  const response = md5(`${ha1}:${nonce}:${nc}:c0ffee:auth:${ha2}`);
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", qop=auth, nc=${nc}, cnonce="c0ffee", response="${response}", algorithm=MD5`;
}

const invite = (authorization: string | undefined, requestUri = URI): DigestRequest => ({ method: 'INVITE', requestUri, authorization });

describe('digest challenges for SIP callers', () => {
  it('accepts the right answer to its challenge, with or without qop', () => {
    const d = new DigestChallenger({ realm: 'legway', users });
    const challenge = d.challenge();
    expect(challenge).toMatch(/^Digest realm="legway", nonce="[^"]+", algorithm=MD5, qop="auth"$/);
    expect(d.check(invite(answer(challenge)), HOST)).toBe('ok');
    expect(d.check(invite(answer(d.challenge(), { qop: false })), HOST)).toBe('ok');
  });

  it('refuses wrong passwords, unknown users, other realms, another method, and garbage', () => {
    const d = new DigestChallenger({ realm: 'legway', users }, Date.now, { limit: 100 });
    const c = d.challenge();
    expect(d.check(invite(answer(c, { password: 'guess' })), HOST)).toBe('wrong');
    expect(d.check(invite(answer(c, { user: 'mallory' })), HOST)).toBe('wrong');
    expect(d.check(invite(answer(c, { realm: 'elsewhere' })), HOST)).toBe('wrong');
    expect(d.check(invite(answer(c, { method: 'OPTIONS' })), HOST)).toBe('wrong');
    expect(d.check(invite('Basic YWxpY2U6d29uZGVybGFuZA=='), HOST)).toBe('wrong');
    expect(d.check(invite(`Digest ${'x'.repeat(5000)}`), HOST)).toBe('wrong');
    expect(d.check(invite(undefined), HOST)).toBe('missing');
  });

  it('refuses a nonce it did not make, and calls an old one of its own stale', () => {
    let now = 1_000_000;
    const d = new DigestChallenger({ realm: 'legway', users }, () => now);
    const other = new DigestChallenger({ realm: 'legway', users }, () => now);
    expect(d.check(invite(answer(other.challenge())), HOST)).toBe('wrong');
    const c = d.challenge();
    now += 6 * 60_000;
    expect(d.check(invite(answer(c)), HOST)).toBe('stale');
    expect(d.challenge(true)).toMatch(/stale=true$/);
  });

  it('takes an answer only for the Request-URI it names: replayed to another number it is wrong', () => {
    const d = new DigestChallenger({ realm: 'legway', users });
    const c = d.challenge();
    expect(d.check(invite(answer(c), 'sip:premium-rate@127.0.0.1'), HOST)).toBe('wrong');
    expect(d.check(invite(answer(c, { uri: 'sip:room@127.0.0.1;transport=tcp' }), URI), HOST)).toBe('wrong');
    // An explicit default port makes another URI (RFC 3261 §19.1.4); a scheme in capitals does not.
    expect(d.check(invite(answer(c, { uri: 'sip:room@127.0.0.1' }), 'sip:room@127.0.0.1:5060'), HOST)).toBe('wrong');
    expect(d.check(invite(answer(c, { uri: 'SIP:room@127.0.0.1' }), URI), HOST)).toBe('ok');
  });

  it('takes each nonce count once and only rising: a repeated or lower nc is a replay', () => {
    const d = new DigestChallenger({ realm: 'legway', users }, Date.now, { limit: 100 });
    const c = d.challenge();
    expect(d.check(invite(answer(c, { nc: 1 })), HOST)).toBe('ok');
    expect(d.check(invite(answer(c, { nc: 1 })), HOST)).toBe('replayed');
    expect(d.check(invite(answer(c, { nc: 3 })), HOST)).toBe('ok');
    expect(d.check(invite(answer(c, { nc: 2 })), HOST)).toBe('replayed');
    // Without qop there is no count: the nonce works once.
    const plain = d.challenge();
    expect(d.check(invite(answer(plain, { qop: false })), HOST)).toBe('ok');
    expect(d.check(invite(answer(plain, { qop: false })), HOST)).toBe('replayed');
    // Two challenges in the same millisecond are two nonces, each with its own count.
    const same = new DigestChallenger({ realm: 'legway', users }, () => 5_000_000);
    const [first, second] = [same.challenge(), same.challenge()];
    expect(first).not.toBe(second);
    expect(same.check(invite(answer(first)), HOST)).toBe('ok');
    expect(same.check(invite(answer(second)), HOST)).toBe('ok');
  });

  it('after 5 failures in a minute refuses an address unchecked for a minute, others not', () => {
    let now = 10_000_000;
    const d = new DigestChallenger({ realm: 'legway', users }, () => now);
    for (let i = 0; i < 4; i++) expect(d.check(invite(answer(d.challenge(), { password: `guess-${i}` })), HOST)).toBe('wrong');
    expect(d.check(invite(answer(d.challenge())), HOST)).toBe('ok');
    expect(d.check(invite(answer(d.challenge(), { password: 'guess-4' })), HOST)).toBe('wrong');
    expect(d.check(invite(answer(d.challenge())), HOST)).toBe('throttled');
    expect(d.check(invite(undefined), HOST)).toBe('throttled');
    expect(d.check(invite(answer(d.challenge())), '192.0.2.11')).toBe('ok');
    now += 61_000;
    expect(d.check(invite(answer(d.challenge())), HOST)).toBe('ok');
  });

  it('lets old failures lapse: 5 spread over more than a minute do not block', () => {
    let now = 20_000_000;
    const d = new DigestChallenger({ realm: 'legway', users }, () => now);
    for (let i = 0; i < 8; i++) {
      expect(d.check(invite(answer(d.challenge(), { password: 'nope' })), HOST)).toBe('wrong');
      now += 20_000;
    }
    expect(d.check(invite(answer(d.challenge())), HOST)).toBe('ok');
  });
});

describe('NonceCounts', () => {
  it('forgets the least recently used nonce past its limit, and from then on refuses nonces no newer', () => {
    const counts = new NonceCounts(300_000, 2);
    expect(counts.use('a', 1000, 1, 2000)).toBe('ok');
    expect(counts.use('b', 1100, 1, 2000)).toBe('ok');
    expect(counts.use('c', 1200, 1, 2000)).toBe('ok');
    expect(counts.size).toBe(2);
    expect(counts.use('a', 1000, 2, 2000)).toBe('forgotten');
    expect(counts.use('b', 1100, 1, 2000)).toBe('replayed');
    expect(counts.use('d', 1300, 1, 2000)).toBe('ok');
  });
});

describe('FailureThrottle', () => {
  it('holds at most its limit of addresses', () => {
    const throttle = new FailureThrottle({ limit: 2, maxTracked: 3 });
    for (const address of ['a', 'b', 'c', 'd']) throttle.fail(address);
    expect(throttle.fail('a')).toBe(false);
    expect(throttle.fail('d')).toBe(true);
    expect(throttle.blocked('d')).toBe(true);
  });
});
