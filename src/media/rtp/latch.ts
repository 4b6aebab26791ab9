/**
 * Symmetric RTP (RFC 4961) with latching: which source a SIP leg's media is taken from, and where
 * the leg's media is sent. A phone behind NAT writes its private address in the SDP but sends from
 * its router's public one; sending back to where its packets come from reaches it, where sending
 * to its SDP address would not.
 *
 * Policy:
 * - Nothing is accepted before the remote SDP address is known (`setRemote`).
 * - When the SDP address is one that could be the real source (public, or loopback), the first
 *   packet from that IP, from any port, latches; a NAT may change the port, but not the host.
 * - When the SDP address cannot be the source as seen from here (unspecified 0.0.0.0/::, RFC 1918
 *   and CGNAT ranges, link-local, IPv6 unique-local), the first packet from any address latches.
 * - Once latched, only that exact address and port are accepted; all else is dropped by the
 *   caller and counted. A new SDP (`setRemote` again, as after a re-INVITE) unlatches.
 * - Until latched, media goes to the SDP address (unless unspecified: c=0.0.0.0 is old-style hold);
 *   once latched, to the latched source.
 */
import { BlockList, isIP } from 'node:net';

/** An IP address and UDP port. */
export interface UdpAddress {
  address: string;
  port: number;
}

const UNROUTABLE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  UNROUTABLE.addSubnet(net, prefix, 'ipv4');
}
UNROUTABLE.addAddress('::', 'ipv6');
UNROUTABLE.addSubnet('fc00::', 7, 'ipv6');
UNROUTABLE.addSubnet('fe80::', 10, 'ipv6');

/** An IPv4-mapped IPv6 address as plain IPv4; others unchanged. */
export function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address.toLowerCase();
}

/** Whether an SDP address cannot be a source we would see packets from (see the policy above). */
export function isUnroutable(address: string): boolean {
  const ip = normalizeIp(address);
  const family = isIP(ip);
  if (family === 0) return true;
  return UNROUTABLE.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** Whether an SDP address means "send nothing here" (0.0.0.0 or ::). */
export function isUnspecified(address: string): boolean {
  const ip = normalizeIp(address);
  return ip === '0.0.0.0' || ip === '::' || isIP(ip) === 0;
}

/** What `SourceLatch.check` decided for one packet's source. */
export type LatchVerdict = 'accept' | 'latch' | 'reject';

/** The latching state of one stream. */
export class SourceLatch {
  private remote: UdpAddress | undefined;
  private expectedIp: string | undefined;
  private latchedTo: UdpAddress | undefined;

  /** Takes the address and port from the remote SDP; forgets any earlier latch. */
  setRemote(remote: UdpAddress): void {
    this.remote = { address: normalizeIp(remote.address), port: remote.port };
    this.expectedIp = isUnroutable(remote.address) ? undefined : normalizeIp(remote.address);
    this.latchedTo = undefined;
  }

  /** The source packets are taken from, once latched. */
  get latched(): UdpAddress | undefined {
    return this.latchedTo;
  }

  /** A remote is set that may send media (not c=0.0.0.0, not port 0), or we have latched. */
  get expectsMedia(): boolean {
    return this.latchedTo !== undefined || this.destination !== undefined;
  }

  /** Where to send: the latched source, else the SDP address unless unspecified. */
  get destination(): UdpAddress | undefined {
    if (this.latchedTo) return this.latchedTo;
    if (this.remote === undefined || isUnspecified(this.remote.address) || this.remote.port === 0) return undefined;
    return this.remote;
  }

  /** Decides for a well-formed packet from `source`; `latch` means it was accepted and latched on. */
  check(source: UdpAddress): LatchVerdict {
    if (this.remote === undefined) return 'reject';
    const ip = normalizeIp(source.address);
    if (this.latchedTo) return this.latchedTo.address === ip && this.latchedTo.port === source.port ? 'accept' : 'reject';
    if (this.expectedIp !== undefined && this.expectedIp !== ip) return 'reject';
    this.latchedTo = { address: ip, port: source.port };
    return 'latch';
  }
}
