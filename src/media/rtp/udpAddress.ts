/** UDP addresses as SIP legs' media sees them: where a packet came from, where ours go. */
import { isIP } from 'node:net';

/** An IP address and UDP port. */
export interface UdpAddress {
  address: string;
  port: number;
}

/** An IPv4-mapped IPv6 address as plain IPv4; others lower-cased. */
export function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address.toLowerCase();
}

/** Whether an SDP address means "send nothing here" (0.0.0.0 or ::), or is no IP address at all. */
export function isUnspecified(address: string): boolean {
  const ip = normalizeIp(address);
  return ip === '0.0.0.0' || ip === '::' || isIP(ip) === 0;
}
