import { isIP } from 'node:net';
import { DEFAULT_SIP_PORT } from './types.js';

/**
 * Via header values (RFC 3261 §20.42): split, parsed, stamped with `received`/`rport` (§18.2.1,
 * RFC 3581) and read back to route responses (§18.2.2). sip.js's own Via grammar reads the last of
 * several comma-joined values and drops a valueless `rport`, so the transport keeps its own.
 */

export interface ViaParam {
  readonly name: string;
  readonly value: string | undefined;
}

export interface Via {
  /** Transport token, upper case (`UDP`, `TCP`, …). */
  readonly transport: string;
  /** sent-by host, without IPv6 brackets. */
  readonly host: string;
  readonly port: number | undefined;
  readonly params: readonly ViaParam[];
}

/** Splits a Via header value at the commas that separate via-parms (not those inside quotes or brackets). */
export function splitViaValues(value: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '[') depth++;
    else if (ch === ']') depth = Math.max(0, depth - 1);
    else if (ch === ',' && depth === 0) {
      parts.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(value.slice(start).trim());
  return parts.filter((p) => p.length > 0);
}

const TOKEN = /^[A-Za-z0-9!%*_+`'~.-]+$/;
const SENT_PROTOCOL = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z0-9!%*_+`'~.-]+)\s+/i;
const SENT_BY = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?:\s*:\s*(\d{1,5}))?\s*/;

function splitParams(text: string): string[] | undefined {
  const parts: string[] = [];
  let quoted = false;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (quoted) {
      current += ch;
      if (ch === '\\' && i + 1 < text.length) current += text.charAt(++i);
      else if (ch === '"') quoted = false;
    } else if (ch === '"') {
      quoted = true;
      current += ch;
    } else if (ch === ';') {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (quoted) return undefined;
  parts.push(current);
  return parts;
}

/** Parses one via-parm (`SIP/2.0/UDP host:port;branch=…;rport`); undefined when malformed. */
export function parseVia(value: string): Via | undefined {
  const text = value.trim();
  const protocol = SENT_PROTOCOL.exec(text);
  if (!protocol?.[1]) return undefined;
  const rest = text.slice(protocol[0].length);
  const sentBy = SENT_BY.exec(rest);
  if (!sentBy?.[1]) return undefined;
  const rawHost = sentBy[1];
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (rawHost.startsWith('[') && isIP(host) !== 6) return undefined;
  const port = sentBy[2] === undefined ? undefined : Number(sentBy[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const paramText = rest.slice(sentBy[0].length);
  if (paramText !== '' && !paramText.startsWith(';')) return undefined;
  const rawParams = splitParams(paramText.slice(1));
  if (!rawParams) return undefined;
  const params: ViaParam[] = [];
  if (paramText !== '') {
    for (const raw of rawParams) {
      const eq = raw.indexOf('=');
      const name = (eq < 0 ? raw : raw.slice(0, eq)).trim();
      if (!TOKEN.test(name)) return undefined;
      params.push({ name, value: eq < 0 ? undefined : raw.slice(eq + 1).trim() });
    }
  }
  return { transport: protocol[1].toUpperCase(), host, port, params };
}

/** A Via parameter by name (case-insensitive): `undefined` when absent, else `{ value }` (value undefined when the parameter has none). */
export function viaParam(via: Via, name: string): { value: string | undefined } | undefined {
  const lower = name.toLowerCase();
  const found = via.params.find((p) => p.name.toLowerCase() === lower);
  return found ? { value: found.value } : undefined;
}

/** The branch parameter of a Via, if any. */
export function viaBranch(via: Via): string | undefined {
  return viaParam(via, 'branch')?.value;
}

/** Host text as it goes into a header (IPv6 in brackets). */
export function hostForHeader(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** Writes a Via back to header text. */
export function formatVia(via: Via): string {
  const sentBy = hostForHeader(via.host) + (via.port === undefined ? '' : `:${via.port}`);
  const params = via.params.map((p) => (p.value === undefined ? `;${p.name}` : `;${p.name}=${p.value}`)).join('');
  return `SIP/2.0/${via.transport} ${sentBy}${params}`;
}

/** Canonical text of an IP address for comparisons (IPv4-mapped IPv6 → IPv4, IPv6 lower case). */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  return mapped?.[1] ?? lower;
}

/**
 * Adds what a server records in the top Via of a received request (RFC 3261 §18.2.1, RFC 3581 §4):
 * `received` when sent-by is a name or another address than the packet's source, or when `rport`
 * was asked for; `rport` filled with the source port when present.
 */
export function stampVia(via: Via, source: { address: string; port: number }): Via {
  const address = normalizeAddress(source.address);
  const wantsRport = viaParam(via, 'rport') !== undefined;
  const sentByMatches = isIP(via.host) !== 0 && normalizeAddress(via.host) === address;
  const addReceived = wantsRport || !sentByMatches;
  const params: ViaParam[] = [];
  for (const p of via.params) {
    const lower = p.name.toLowerCase();
    if (lower === 'received') continue;
    if (lower === 'rport') continue;
    params.push(p);
  }
  if (addReceived) params.push({ name: 'received', value: address });
  if (wantsRport) params.push({ name: 'rport', value: String(source.port) });
  return { ...via, params };
}

/** Where a response goes, read from the top Via (RFC 3261 §18.2.2, RFC 3581 §4). */
export interface ResponseRoute {
  readonly transport: string;
  /** Host to send to: `received` if present, else sent-by host (may be a DNS name). */
  readonly host: string;
  /** Port for UDP: `rport` value if present, else sent-by port or 5060. For TCP: the sent-by port (for a new connection). */
  readonly port: number;
  /** For TCP: the address and port of the connection the request came on, when `received` and `rport` name it. */
  readonly connection: { readonly address: string; readonly port: number } | undefined;
}

function portNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Response routing by the top Via of a response. */
export function responseRoute(via: Via): ResponseRoute {
  const received = viaParam(via, 'received')?.value;
  const receivedIp = received !== undefined && isIP(received) !== 0 ? received : undefined;
  const rport = portNumber(viaParam(via, 'rport')?.value);
  const host = receivedIp ?? via.host;
  const sentByPort = via.port ?? DEFAULT_SIP_PORT;
  if (via.transport === 'UDP') {
    return { transport: via.transport, host, port: rport ?? sentByPort, connection: undefined };
  }
  return {
    transport: via.transport,
    host,
    port: sentByPort,
    connection: receivedIp !== undefined && rport !== undefined ? { address: receivedIp, port: rport } : undefined,
  };
}
