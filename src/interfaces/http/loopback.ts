import { BlockList } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * True for a peer on this host: 127.0.0.0/8, ::1, and IPv4-mapped loopback (a dual-stack listener's
 * view). Give it the socket's own peer address: a forwarded-for header is the client's word, not a fact.
 */
export function isLoopbackPeer(address: string | undefined): boolean {
  if (address === undefined) return false;
  // BlockList matches IPv4-mapped IPv6 addresses against the IPv4 rules.
  return address.includes(':') ? LOOPBACK.check(address, 'ipv6') : LOOPBACK.check(address, 'ipv4');
}
