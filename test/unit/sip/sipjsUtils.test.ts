/**
 * The patched `headerize` and `utf8Length` of sip.js (patches/sip.js+0.21.2.patch, see
 * docs/upstream/sipjs-patches.md) must give what the originals gave: the canonical header name for
 * any name, remembered or not, and every body's Content-Length, with the same URIError for a body
 * holding a lone surrogate. The originals are written out here as sip.js 0.21.2 has them.
 */
import { headerize, utf8Length } from 'sip.js/lib/core/messages/utils.js';
import { describe, expect, it } from 'vitest';

/** sip.js 0.21.2's `headerize`. */
function originalHeaderize(str: string): string {
  const exceptions: Record<string, string> = {
    'Call-Id': 'Call-ID',
    Cseq: 'CSeq',
    'Min-Se': 'Min-SE',
    Rack: 'RAck',
    Rseq: 'RSeq',
    'Www-Authenticate': 'WWW-Authenticate',
  };
  const name = str.toLowerCase().replace(/_/g, '-').split('-');
  let hname = '';
  for (let part = 0; part < name.length; part++) {
    if (part !== 0) hname += '-';
    hname += name[part]!.charAt(0).toUpperCase() + name[part]!.substring(1);
  }
  return exceptions[hname] ?? hname;
}

/** sip.js 0.21.2's `utf8Length`. */
function originalUtf8Length(str: string): number {
  return encodeURIComponent(str).replace(/%[A-F\d]{2}/g, 'U').length;
}

/** A deterministic generator (mulberry32), so that a failure can be reproduced. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Strings of code units drawn from every UTF-8 length class, with surrogates paired or not. */
function unitStrings(count: number, seed: number): string[] {
  const next = random(seed);
  const pools = [
    () => 0x20 + Math.floor(next() * 0x5f),
    () => 0x80 + Math.floor(next() * 0x780),
    () => 0x800 + Math.floor(next() * 0xd000),
    () => 0xe000 + Math.floor(next() * 0x2000),
    () => 0xd800 + Math.floor(next() * 0x400),
    () => 0xdc00 + Math.floor(next() * 0x400),
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const units: number[] = [];
    const length = Math.floor(next() * 12);
    for (let j = 0; j < length; j++) {
      const pool = pools[Math.floor(next() * pools.length)]!;
      units.push(pool());
      // Mostly well-formed: a high surrogate is usually followed by a low one.
      if (units.at(-1)! >= 0xd800 && units.at(-1)! <= 0xdbff && next() < 0.8) units.push(0xdc00 + Math.floor(next() * 0x400));
    }
    out.push(String.fromCharCode(...units));
  }
  return out;
}

function outcome(fn: () => number): number | string {
  try {
    return fn();
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

describe('sip.js utf8Length, patched', () => {
  it('gives every body the Content-Length the original gave, and the same error for a lone surrogate', () => {
    const bodies = [
      '',
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n',
      'é',
      '€',
      '😀',
      'a😀b€c',
      '\ud800',
      '\udc00',
      'x\ud83d',
      '\ud83dx',
      '\ude00\ud83d',
      ...unitStrings(5000, 42),
    ];
    let errors = 0;
    for (const body of bodies) {
      const expected = outcome(() => originalUtf8Length(body));
      if (typeof expected === 'string') errors++;
      expect(
        outcome(() => utf8Length(body)),
        JSON.stringify(body),
      ).toBe(expected);
    }
    // The corpus reached both paths, many times each.
    expect(errors).toBeGreaterThan(100);
    expect(bodies.length - errors).toBeGreaterThan(1000);
    // Well-formed text: the length is the UTF-8 encoding's.
    expect(utf8Length('a😀b€c')).toBe(Buffer.byteLength('a😀b€c', 'utf8'));
  });
});

describe('sip.js headerize, patched', () => {
  it('gives the canonical name for any name, the first time and when remembered', () => {
    const names = [
      'call-id',
      'CALL-ID',
      'Call-Id',
      'cseq',
      'min-se',
      'rack',
      'rseq',
      'www-authenticate',
      'content_type',
      'x-my__header',
      '-leading',
      'trailing-',
      '',
      'a',
      'ÉTÉ-x',
      'via',
      'Via',
      'vIA',
      '__proto__',
      'constructor',
      'hasOwnProperty',
    ];
    for (const name of names) {
      expect(headerize(name), name).toBe(originalHeaderize(name));
      expect(headerize(name), `${name}, again`).toBe(originalHeaderize(name));
    }
  });

  it('keeps giving the right name once its memory is full', () => {
    const next = random(7);
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_';
    for (let i = 0; i < 3000; i++) {
      let name = '';
      const length = 1 + Math.floor(next() * 20);
      for (let j = 0; j < length; j++) name += alphabet[Math.floor(next() * alphabet.length)];
      expect(headerize(name), name).toBe(originalHeaderize(name));
      expect(headerize(name), name).toBe(originalHeaderize(name));
    }
    expect(headerize('call-id')).toBe('Call-ID');
  });
});
