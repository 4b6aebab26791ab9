import { describe, expect, it } from 'vitest';
import { isUnroutable, SourceLatch } from '../../../src/media/rtp/latch.js';

describe('isUnroutable', () => {
  it('tells SDP addresses that cannot be the packets’ source from those that can', () => {
    for (const a of ['0.0.0.0', '10.1.2.3', '172.20.0.1', '192.168.1.5', '100.64.0.9', '169.254.3.3', '::', 'fd00::1', 'fe80::1', '::ffff:192.168.0.1', 'not-an-ip']) {
      expect(isUnroutable(a), a).toBe(true);
    }
    for (const a of ['203.0.113.7', '127.0.0.1', '8.8.8.8', '2001:db8::1', '::ffff:203.0.113.7']) expect(isUnroutable(a), a).toBe(false);
  });
});

describe('SourceLatch', () => {
  it('accepts nothing before the remote is known', () => {
    expect(new SourceLatch().check({ address: '203.0.113.7', port: 4000 })).toBe('reject');
  });

  it('latches on the first packet from the SDP host (any port), then takes only that address and port', () => {
    const latch = new SourceLatch();
    latch.setRemote({ address: '203.0.113.7', port: 4000 });
    expect(latch.destination).toEqual({ address: '203.0.113.7', port: 4000 });
    expect(latch.check({ address: '198.51.100.1', port: 4000 })).toBe('reject');
    expect(latch.check({ address: '203.0.113.7', port: 4100 })).toBe('latch');
    expect(latch.destination).toEqual({ address: '203.0.113.7', port: 4100 });
    expect(latch.check({ address: '203.0.113.7', port: 4100 })).toBe('accept');
    expect(latch.check({ address: '203.0.113.7', port: 4000 })).toBe('reject');
  });

  it('latches on any source when the SDP address is private, and sends nowhere for 0.0.0.0 until latched', () => {
    const latch = new SourceLatch();
    latch.setRemote({ address: '192.168.1.20', port: 5004 });
    expect(latch.destination).toEqual({ address: '192.168.1.20', port: 5004 });
    expect(latch.check({ address: '198.51.100.1', port: 31000 })).toBe('latch');
    expect(latch.destination).toEqual({ address: '198.51.100.1', port: 31000 });

    latch.setRemote({ address: '0.0.0.0', port: 5004 });
    expect(latch.latched).toBeUndefined();
    expect(latch.destination).toBeUndefined();
    expect(latch.expectsMedia).toBe(false);
    expect(latch.check({ address: '198.51.100.2', port: 1 })).toBe('latch');
    expect(latch.expectsMedia).toBe(true);
  });
});
