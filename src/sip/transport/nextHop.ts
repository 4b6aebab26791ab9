import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Grammar } from 'sip.js';
import { headerValue, type MessageHead } from './sipText.js';
import { DEFAULT_SIP_PORT, type SipProtocol } from './types.js';

/**
 * Where an outgoing request goes (RFC 3261 §8.1.2, §18.1.1; RFC 3263 without NAPTR/SRV): the first
 * Route's URI when there is a route set, else the Request-URI; its `maddr` or host, its port (5060
 * by default) and its `transport` parameter (UDP by default).
 */
export interface RequestHop {
  readonly protocol: SipProtocol;
  /** IP address or DNS name. */
  readonly host: string;
  readonly port: number;
}

/** The first URI in a Route value (`<sip:p1;lr>, <sip:p2;lr>` → `sip:p1;lr`). */
function firstRouteUri(route: string): string | undefined {
  const open = route.indexOf('<');
  if (open < 0) return route.split(',')[0]?.trim();
  const close = route.indexOf('>', open);
  return close < 0 ? undefined : route.slice(open + 1, close);
}

/** The next hop of a request, or an error message saying why there is none. */
export function requestHop(head: MessageHead, requestUri: string): RequestHop | { error: string } {
  const route = headerValue(head, 'route');
  const uriText = route === undefined ? requestUri : firstRouteUri(route);
  const uri = uriText === undefined ? undefined : Grammar.URIParse(uriText);
  if (!uri) return { error: 'next hop URI unreadable' };
  if (uri.scheme !== 'sip') return { error: `unsupported URI scheme ${uri.scheme}` };
  const transportParam = uri.getParam('transport');
  const transport = typeof transportParam === 'string' ? transportParam.toLowerCase() : 'udp';
  if (transport !== 'udp' && transport !== 'tcp') return { error: `unsupported transport ${transport}` };
  const maddr = uri.getParam('maddr');
  const rawHost = typeof maddr === 'string' && maddr !== '' ? maddr : uri.host;
  const host = rawHost.startsWith('[') && rawHost.endsWith(']') ? rawHost.slice(1, -1) : rawHost;
  return { protocol: transport === 'tcp' ? 'TCP' : 'UDP', host, port: uri.port ?? DEFAULT_SIP_PORT };
}

/** Resolves a host to an IP address of the given family: IP literals as they are, names by the system resolver. */
export async function resolveHost(host: string, family: 4 | 6 | 0): Promise<string> {
  if (isIP(host) !== 0) return host;
  const found = await lookup(host, { family });
  return found.address;
}
