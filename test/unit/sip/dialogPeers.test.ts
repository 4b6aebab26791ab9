import { describe, expect, it } from 'vitest';
import { DialogPeers } from '../../../src/sip/dialogPeers.js';
import { udpResponseTarget } from '../../../src/sip/transport/arrivals.js';
import { parseVia } from '../../../src/sip/transport/via.js';

describe('dialog peers', () => {
  it("knows an answered dialog by its INVITE's address, a placed one by where we sent and where answers came from", () => {
    const peers = new DialogPeers();
    peers.learn('d1', '192.0.2.1');
    expect(peers.allows('d1', '192.0.2.1')).toBe(true);
    expect(peers.allows('d1', '192.0.2.2')).toBe(false);
    expect(peers.allows('unknown', '192.0.2.1')).toBe(false);
    peers.noteSent('call-2', '198.51.100.7');
    peers.learnPlaced('d2', 'call-2', '198.51.100.8');
    expect(peers.allows('d2', '198.51.100.7')).toBe(true);
    expect(peers.allows('d2', '198.51.100.8')).toBe(true);
    peers.sweep((id) => id === 'd2');
    expect(peers.allows('d1', '192.0.2.1')).toBe(false);
    expect(peers.size).toBe(1);
  });
});

describe('UDP response targets', () => {
  it('go to received and rport, else an IP sent-by, never to a name', () => {
    expect(udpResponseTarget(parseVia('SIP/2.0/TCP host.example.com;branch=z9hG4bK1;received=192.0.2.1;rport=4000')!)).toEqual({
      address: '192.0.2.1',
      port: 4000,
    });
    expect(udpResponseTarget(parseVia('SIP/2.0/UDP host.example.com:5070;received=192.0.2.1')!)).toEqual({ address: '192.0.2.1', port: 5070 });
    expect(udpResponseTarget(parseVia('SIP/2.0/UDP 192.0.2.3')!)).toEqual({ address: '192.0.2.3', port: 5060 });
    expect(udpResponseTarget(parseVia('SIP/2.0/UDP host.example.com;rport')!)).toBeUndefined();
  });
});
