import { describe, expect, it } from 'vitest';
import { formatVia, parseVia, responseRoute, splitViaValues, stampVia, viaBranch, viaParam } from '../../../src/sip/transport/via.js';

function via(text: string) {
  const parsed = parseVia(text);
  if (!parsed) throw new Error(`unparseable: ${text}`);
  return parsed;
}

describe('Via parsing', () => {
  it('reads transport, sent-by and parameters, valueless ones included', () => {
    const v = via('SIP/2.0/udp 192.0.2.1:5070;branch=z9hG4bK77;rport;ttl=3');
    expect(v).toMatchObject({ transport: 'UDP', host: '192.0.2.1', port: 5070 });
    expect(viaBranch(v)).toBe('z9hG4bK77');
    expect(viaParam(v, 'rport')).toEqual({ value: undefined });
    expect(viaParam(v, 'received')).toBeUndefined();
  });

  it('reads IPv6 sent-by in brackets, names, and tolerates spaces around slashes and colons', () => {
    expect(via('SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK1')).toMatchObject({ host: '2001:db8::1', port: 5061 });
    expect(via('SIP / 2.0 / UDP pbx.example.com ;branch=z9hG4bK2')).toMatchObject({ host: 'pbx.example.com', port: undefined });
    expect(via('SIP/2.0/UDP host : 5080;branch=b')).toMatchObject({ host: 'host', port: 5080 });
  });

  it('refuses what is not a via-parm', () => {
    for (const bad of [
      '',
      'garbage',
      'SIP/2.0/UDP',
      'SIP/2.0/UDP [zz::1]:5060',
      'SIP/2.0/UDP host:70000',
      'SIP/2.0/UDP host;branch="open',
      'SIP/3.0/UDP host',
    ]) {
      expect(parseVia(bad), bad).toBeUndefined();
    }
  });

  it('splits comma-joined values, keeping commas inside quotes and brackets', () => {
    expect(splitViaValues('SIP/2.0/UDP a;branch=1, SIP/2.0/UDP [::1]:5060;x="p,q" ,SIP/2.0/TCP c')).toEqual([
      'SIP/2.0/UDP a;branch=1',
      'SIP/2.0/UDP [::1]:5060;x="p,q"',
      'SIP/2.0/TCP c',
    ]);
  });

  it('writes a Via back as it read it', () => {
    const text = 'SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport;x=y';
    expect(formatVia(via(text))).toBe(text);
  });
});

describe('Via stamping (RFC 3261 §18.2.1, RFC 3581)', () => {
  const source = { address: '203.0.113.9', port: 40123 };

  it('adds received and fills rport when rport is asked for', () => {
    expect(formatVia(stampVia(via('SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport'), source))).toBe(
      'SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;received=203.0.113.9;rport=40123',
    );
  });

  it('adds received when sent-by is another address or a name, and nothing when it is the source', () => {
    expect(formatVia(stampVia(via('SIP/2.0/UDP 10.0.0.5;branch=b'), source))).toBe('SIP/2.0/UDP 10.0.0.5;branch=b;received=203.0.113.9');
    expect(formatVia(stampVia(via('SIP/2.0/UDP ua.example.com;branch=b'), source))).toBe('SIP/2.0/UDP ua.example.com;branch=b;received=203.0.113.9');
    expect(formatVia(stampVia(via('SIP/2.0/UDP 203.0.113.9:5060;branch=b'), source))).toBe('SIP/2.0/UDP 203.0.113.9:5060;branch=b');
  });

  it('adds received even when the address matches, if rport is asked for (RFC 3581 §4)', () => {
    expect(formatVia(stampVia(via('SIP/2.0/UDP 203.0.113.9:5060;rport;branch=b'), source))).toBe(
      'SIP/2.0/UDP 203.0.113.9:5060;branch=b;received=203.0.113.9;rport=40123',
    );
  });

  it('replaces received and rport values a client wrote itself', () => {
    expect(formatVia(stampVia(via('SIP/2.0/UDP 10.0.0.5;received=1.1.1.1;rport=9;branch=b'), source))).toBe(
      'SIP/2.0/UDP 10.0.0.5;branch=b;received=203.0.113.9;rport=40123',
    );
  });

  it('compares an IPv4-mapped IPv6 source as IPv4', () => {
    expect(formatVia(stampVia(via('SIP/2.0/UDP 203.0.113.9;branch=b'), { address: '::ffff:203.0.113.9', port: 5060 }))).toBe(
      'SIP/2.0/UDP 203.0.113.9;branch=b',
    );
  });
});

describe('response routing by the top Via (RFC 3261 §18.2.2)', () => {
  it('UDP: received and rport win over sent-by', () => {
    expect(responseRoute(via('SIP/2.0/UDP 10.0.0.5:5070;branch=b;received=203.0.113.9;rport=40123'))).toMatchObject({ host: '203.0.113.9', port: 40123 });
  });

  it('UDP: received with the sent-by port, or sent-by alone with 5060 by default', () => {
    expect(responseRoute(via('SIP/2.0/UDP 10.0.0.5:5070;branch=b;received=203.0.113.9'))).toMatchObject({ host: '203.0.113.9', port: 5070 });
    expect(responseRoute(via('SIP/2.0/UDP ua.example.com;branch=b'))).toMatchObject({ host: 'ua.example.com', port: 5060 });
  });

  it('TCP: names the connection by received/rport, and a new one by received and the sent-by port', () => {
    expect(responseRoute(via('SIP/2.0/TCP 10.0.0.5:5070;branch=b;received=203.0.113.9;rport=40123'))).toEqual({
      transport: 'TCP',
      host: '203.0.113.9',
      port: 5070,
      connection: { address: '203.0.113.9', port: 40123 },
    });
    expect(responseRoute(via('SIP/2.0/TCP 10.0.0.5;branch=b')).connection).toBeUndefined();
  });

  it('ignores a received that is not an IP address', () => {
    expect(responseRoute(via('SIP/2.0/UDP 10.0.0.5;branch=b;received=evil.example.com'))).toMatchObject({ host: '10.0.0.5' });
  });
});
