import { createRequire } from 'node:module';
import type * as IpAddr from 'ipaddr.js';

/**
 * The trunk allowlist (`LEGWAY_SIP_TRUNKS`): source addresses allowed to send requests without
 * digest authentication. IPv4 and IPv6 CIDRs (a bare address is a single host); IPv4-mapped IPv6
 * sources (`::ffff:10.1.2.3`, as a dual-stack socket reports them) match IPv4 ranges.
 */

// ipaddr.js is CommonJS typed `export =`, which these ESM settings (no esModuleInterop) cannot default-import.
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof IpAddr;

type Address = IpAddr.IPv4 | IpAddr.IPv6;
type Range = readonly [Address, number];

function parseRange(text: string): Range {
  const trimmed = text.trim();
  let address: Address;
  let bits: number;
  if (trimmed.includes('/')) {
    [address, bits] = ipaddr.parseCIDR(trimmed);
  } else {
    address = ipaddr.parse(trimmed);
    bits = address.kind() === 'ipv4' ? 32 : 128;
  }
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() && bits >= 96) {
    return [address.toIPv4Address(), bits - 96];
  }
  return [address, bits];
}

function inRange(address: Address, [network, bits]: Range): boolean {
  if (address instanceof ipaddr.IPv4) return network instanceof ipaddr.IPv4 && address.match(network, bits);
  return network instanceof ipaddr.IPv6 && address.match(network, bits);
}

function parseSource(address: string): Address | undefined {
  try {
    return ipaddr.process(address);
  } catch {
    return undefined;
  }
}

/** Verdicts remembered per check (every request asks, from a handful of trunk addresses); forgotten all at once when full. */
const REMEMBERED_VERDICTS = 4096;

/** Builds a check for a fixed list of CIDRs (parsed once); throws on an unreadable CIDR. */
export function trustedSourceCheck(cidrs: readonly string[]): (address: string) => boolean {
  const ranges = cidrs.map(parseRange);
  const verdicts = new Map<string, boolean>();
  return (address) => {
    let trusted = verdicts.get(address);
    if (trusted === undefined) {
      const parsed = parseSource(address);
      trusted = parsed !== undefined && ranges.some((range) => inRange(parsed, range));
      if (verdicts.size >= REMEMBERED_VERDICTS) verdicts.clear();
      verdicts.set(address, trusted);
    }
    return trusted;
  };
}

/** Whether `address` lies in one of `cidrs`; an unreadable address is never trusted. */
export function isTrustedSource(address: string, cidrs: readonly string[]): boolean {
  return trustedSourceCheck(cidrs)(address);
}
