import { LegwayClientError, type ErrorCode } from './errors.js';

/** What the gateway's development login answers. */
export interface DevLogin {
  token: string;
  role: 'user';
  sub: string;
  expires_at: string;
  conversation_id?: string;
}

/**
 * Mints a user token with the gateway's development login (`POST /dev/login`), which answers only
 * when the gateway runs with `LEGWAY_DEV_LOGIN=true`, and only on loopback. In production the
 * application mints tokens.
 */
export async function devLogin(request: { name: string; conversation?: string }, url?: string): Promise<DevLogin> {
  const base = (url ?? (globalThis as { location?: { origin?: string } }).location?.origin ?? '').replace(/\/+$/, '');
  const res = await fetch(`${base}/dev/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
  const body = (await res.json().catch(() => ({}))) as Partial<DevLogin> & { code?: ErrorCode; detail?: string; title?: string };
  if (!res.ok) throw new LegwayClientError(body.code ?? 'Unavailable', body.detail ?? body.title ?? `development login failed (${res.status})`);
  return body as DevLogin;
}
