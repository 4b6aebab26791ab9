import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseHead } from '../../../src/sip/transport/sipText.js';
import { headerProblem, requestLineProblem, unfoldHead } from '../../../src/sip/transport/strictSyntax.js';

const head = (lines: string[]) => parseHead(['OPTIONS sip:a@b SIP/2.0', ...lines].join('\r\n'))!;

describe('strict syntax where sip.js is lenient', () => {
  it('unfolds header lines into one SP, and leaves the body alone', () => {
    const text = 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP\r\n   host;branch=x\r\ncseq: 0009\r\n\tOPTIONS\r\n\r\nbody\r\n  folded?';
    expect(unfoldHead(text)).toBe('OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP host;branch=x\r\ncseq: 0009 OPTIONS\r\n\r\nbody\r\n  folded?');
    expect(unfoldHead('OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n')).toBe('OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n');
  });

  it('unfolds exactly as `[ \\t]*CRLF[ \\t]+` → SP does, blanks, folds and empty lines anywhere', () => {
    const byRegex = (text: string): string => {
      const end = text.indexOf('\r\n\r\n');
      const head = end < 0 ? text : text.slice(0, end);
      const unfolded = head.replace(/[ \t]*\r\n[ \t]+/g, ' ');
      return end < 0 ? unfolded : unfolded + text.slice(end);
    };
    const text = fc.array(fc.constantFrom('a', 'b:', ' ', '\t', '\r\n', '\r', '\n', '\r\n\r\n')).map((parts) => parts.join(''));
    fc.assert(
      fc.property(text, (t) => unfoldHead(t) === byRegex(t)),
      { numRuns: 20_000 },
    );
  });

  it('unfolds a head of a million blanks before a fold in one pass (found by npm run fuzz)', () => {
    // As a regular expression this retried from every blank: a 60 KB datagram held the event loop
    // for 6 s, and this head would not finish within the test's time.
    const blanks = ' '.repeat(1_000_000);
    const text = `OPTIONS sip:a@b SIP/2.0\r\nX-A: x${blanks}y${blanks}\r\n folded\r\n\r\n`;
    expect(unfoldHead(text)).toBe(`OPTIONS sip:a@b SIP/2.0\r\nX-A: x${blanks}y folded\r\n\r\n`);
  });

  it('takes a request line of single spaces and SIP/2.0, with headers nowhere but after the host', () => {
    expect(requestLineProblem('INVITE sip:user@example.com SIP/2.0')).toBeUndefined();
    expect(
      requestLineProblem(
        "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0",
      ),
    ).toBeUndefined();
    expect(requestLineProblem('INVITE  sip:user@example.com  SIP/2.0')?.status).toBe(400);
    expect(requestLineProblem('OPTIONS sip:remote-target@example.com SIP/2.0  ')?.status).toBe(400);
    expect(requestLineProblem('INVITE sip:user@example.com; lr SIP/2.0')?.status).toBe(400);
    expect(requestLineProblem('INVITE <sip:user@example.com> SIP/2.0')?.status).toBe(400);
    expect(requestLineProblem('INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0')).toEqual({ status: 400, reason: 'Headers in Request-URI' });
    expect(requestLineProblem('OPTIONS sip:t.watson@example.org SIP/7.0')).toEqual({ status: 505, reason: 'Version Not Supported' });
    expect(requestLineProblem('OPTIONS sip:t.watson@example.org sip/2.0')).toBeUndefined();
  });

  it('keeps scalar fields in range and Date in GMT', () => {
    expect(headerProblem(head(['CSeq: 0009 INVITE', 'Max-Forwards: 0068', 'Expires: 4294967295']))).toBeUndefined();
    expect(headerProblem(head(['CSeq: 36893488147419103232 REGISTER']))?.reason).toBe('Malformed CSeq');
    expect(headerProblem(head(['CSeq: 2147483648 INVITE']))?.reason).toBe('Malformed CSeq');
    expect(headerProblem(head(['Max-Forwards: 300']))?.reason).toBe('Malformed Max-Forwards');
    expect(headerProblem(head(['Expires: 10000000000000000000']))?.reason).toBe('Malformed Expires');
    expect(headerProblem(head(['Retry-After: 949302838503028349304023988']))?.reason).toBe('Malformed Retry-After');
    expect(headerProblem(head(['Retry-After: 120 (in a meeting);duration=3600']))).toBeUndefined();
    expect(headerProblem(head(['Date: Sat, 15 Oct 2005 04:44:56 GMT']))).toBeUndefined();
    expect(headerProblem(head(['Date: Fri, 01 Jan 2010 16:00:00 EST']))?.reason).toBe('Malformed Date');
  });
});
