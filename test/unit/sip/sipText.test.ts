import { describe, expect, it } from 'vitest';
import { requestHop, resolveHost } from '../../../src/sip/transport/nextHop.js';
import { advertisedHostFor } from '../../../src/sip/sipServer.js';
import { rawErrorResponse } from '../../../src/sip/transport/rawResponse.js';
import { contentLength, cseqMethod, headerValue, parseHead, rewriteTopViaTransport } from '../../../src/sip/transport/sipText.js';
import { methodSupport, unsupportedRequirements } from '../../../src/sip/methods.js';

function head(text: string) {
  const parsed = parseHead(text);
  if (!parsed) throw new Error('unparseable head');
  return parsed;
}

describe('SIP text helpers', () => {
  it('unfolds continuation lines and expands compact header names', () => {
    const h = head('INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP x;branch=1\r\nSubject: one\r\n  two\r\ni: call-1\r\nl: 0');
    expect(headerValue(h, 'via')).toBe('SIP/2.0/UDP x;branch=1');
    expect(headerValue(h, 'subject')).toBe('one two');
    expect(headerValue(h, 'call-id')).toBe('call-1');
    expect(contentLength(h)).toBe(0);
  });

  it('refuses a line that is not a header', () => {
    expect(parseHead('INVITE sip:a@b SIP/2.0\r\nthis is not a header')).toBeUndefined();
  });

  it('reads the method of a CSeq', () => {
    expect(cseqMethod('314 INVITE')).toBe('INVITE');
    expect(cseqMethod('x INVITE')).toBeUndefined();
  });
});

describe('rawErrorResponse', () => {
  const request = [
    'INVITE sip:gw@127.0.0.1 SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.6;branch=z9hG4bK0',
    'From: <<<broken',
    'To: <sip:gw@127.0.0.1>',
    'Call-ID: c1',
    'CSeq: 7 INVITE',
  ].join('\r\n');

  it('answers from the raw lines: stamped top Via, every Via, To tag added', () => {
    const response = rawErrorResponse(request, 400, { address: '203.0.113.9', port: 40000 });
    expect(response?.text.split('\r\n')).toEqual([
      'SIP/2.0 400 Bad Request',
      'Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK1;received=203.0.113.9;rport=40000',
      'Via: SIP/2.0/UDP 10.0.0.6;branch=z9hG4bK0',
      'From: <<<broken',
      expect.stringMatching(/^To: <sip:gw@127\.0\.0\.1>;tag=[0-9a-f]+$/),
      'Call-ID: c1',
      'CSeq: 7 INVITE',
      'Content-Length: 0',
      '',
      '',
    ]);
  });

  it('gives nothing for a response, an ACK, or a request missing what addresses a response', () => {
    const source = { address: '203.0.113.9', port: 40000 };
    expect(rawErrorResponse(request.replace('INVITE sip:gw@127.0.0.1 SIP/2.0', 'SIP/2.0 200 OK'), 400, source)).toBeUndefined();
    expect(rawErrorResponse(request.replace(/^INVITE/, 'ACK'), 400, source)).toBeUndefined();
    expect(rawErrorResponse(request.replace('Call-ID: c1', 'X-Nothing: 1'), 400, source)).toBeUndefined();
    expect(rawErrorResponse(request.replace(/Via: [^\r]+/, 'Via: nonsense'), 400, source)).toBeUndefined();
  });
});

describe('request next hop', () => {
  it('goes to the Request-URI, by UDP on 5060 by default', () => {
    expect(requestHop(head('OPTIONS sip:a@192.0.2.1 SIP/2.0'), 'sip:a@192.0.2.1')).toEqual({ protocol: 'UDP', host: '192.0.2.1', port: 5060 });
  });

  it('honours port, transport=tcp, maddr and IPv6 hosts', () => {
    expect(requestHop(head('BYE x SIP/2.0'), 'sip:a@[2001:db8::1]:5080;transport=TCP')).toEqual({ protocol: 'TCP', host: '2001:db8::1', port: 5080 });
    expect(requestHop(head('BYE x SIP/2.0'), 'sip:a@pbx.example.com;maddr=192.0.2.9')).toEqual({ protocol: 'UDP', host: '192.0.2.9', port: 5060 });
  });

  it('goes to the first Route when there is a route set', () => {
    const h = head('BYE sip:a@192.0.2.1 SIP/2.0\r\nRoute: <sip:proxy.example.com:5070;lr;transport=tcp>, <sip:other;lr>');
    expect(requestHop(h, 'sip:a@192.0.2.1')).toEqual({ protocol: 'TCP', host: 'proxy.example.com', port: 5070 });
  });

  it('refuses schemes and transports it cannot use', () => {
    expect(requestHop(head('BYE x SIP/2.0'), 'sips:a@192.0.2.1')).toHaveProperty('error');
    expect(requestHop(head('BYE x SIP/2.0'), 'sip:a@192.0.2.1;transport=ws')).toHaveProperty('error');
    expect(requestHop(head('BYE x SIP/2.0'), 'not a uri')).toHaveProperty('error');
  });
});

describe('outgoing Via transport', () => {
  it('rewrites only the top Via of a request routed over TCP', () => {
    const text = 'INVITE sip:a@b;transport=tcp SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK1;rport\r\nX: SIP/2.0/UDP\r\n\r\nSIP/2.0/UDP in body';
    expect(rewriteTopViaTransport(text, 'TCP')).toBe(text.replace('Via: SIP/2.0/UDP', 'Via: SIP/2.0/TCP'));
  });
});

describe('method support (RFC 3261 §8.2.1)', () => {
  it('tells allowed, recognised-but-refused (405) and unknown (501) methods apart', () => {
    expect(methodSupport('INVITE')).toBe('allowed');
    expect(methodSupport('INFO')).toBe('allowed');
    expect(methodSupport('REGISTER')).toBe('not-allowed');
    expect(methodSupport('UPDATE')).toBe('not-allowed');
    expect(methodSupport('invite')).toBe('unknown');
    expect(methodSupport('FOO')).toBe('unknown');
  });

  it('lists the Require option tags it does not support', () => {
    expect(unsupportedRequirements(['100rel, timer', ' '])).toEqual(['100rel']);
    expect(unsupportedRequirements([])).toEqual([]);
  });
});

describe('host resolution', () => {
  it('keeps IP literals and resolves names through the system resolver', async () => {
    expect(await resolveHost('192.0.2.7', 4)).toBe('192.0.2.7');
    expect(await resolveHost('2001:db8::1', 0)).toBe('2001:db8::1');
    expect(await resolveHost('localhost', 4)).toBe('127.0.0.1');
  });
});

describe('advertised host', () => {
  it('is the bind address, or an external IPv4 (loopback if none) for a wildcard bind', () => {
    expect(advertisedHostFor('192.0.2.1')).toBe('192.0.2.1');
    expect(advertisedHostFor('0.0.0.0')).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(advertisedHostFor('0.0.0.0')).not.toBe('0.0.0.0');
  });
});
