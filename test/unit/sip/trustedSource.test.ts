import { describe, expect, it } from 'vitest';
import { isTrustedSource, trustedSourceCheck } from '../../../src/sip/trustedSource.js';

describe('isTrustedSource', () => {
  it('matches IPv4 CIDRs and single addresses', () => {
    expect(isTrustedSource('127.0.0.1', ['127.0.0.1/32'])).toBe(true);
    expect(isTrustedSource('127.0.0.2', ['127.0.0.1/32'])).toBe(false);
    expect(isTrustedSource('10.200.3.4', ['192.168.0.0/16', '10.0.0.0/8'])).toBe(true);
    expect(isTrustedSource('11.0.0.1', ['10.0.0.0/8'])).toBe(false);
    expect(isTrustedSource('198.51.100.7', ['198.51.100.7'])).toBe(true);
    expect(isTrustedSource('1.2.3.4', ['0.0.0.0/0'])).toBe(true);
  });

  it('matches IPv6 CIDRs, and IPv4-mapped IPv6 sources against IPv4 ranges', () => {
    expect(isTrustedSource('2001:db8:1::5', ['2001:db8::/32'])).toBe(true);
    expect(isTrustedSource('2001:db9::5', ['2001:db8::/32'])).toBe(false);
    expect(isTrustedSource('::ffff:10.1.2.3', ['10.0.0.0/8'])).toBe(true);
    expect(isTrustedSource('10.1.2.3', ['::ffff:10.0.0.0/104'])).toBe(true);
    expect(isTrustedSource('::1', ['127.0.0.1/32'])).toBe(false);
  });

  it('never trusts an unreadable address or an empty list', () => {
    expect(isTrustedSource('', ['0.0.0.0/0'])).toBe(false);
    expect(isTrustedSource('not-an-ip', ['0.0.0.0/0'])).toBe(false);
    expect(isTrustedSource('127.0.0.1', [])).toBe(false);
  });

  it('refuses an unreadable CIDR when the check is built', () => {
    expect(() => trustedSourceCheck(['10.0.0.0/33'])).toThrow();
  });
});
