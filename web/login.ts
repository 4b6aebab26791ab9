/**
 * How the pages get a token. In production the application mints tokens and links to a page with
 * them in the URL fragment (`/call#token=…&conversation=…`), which never reaches a server log.
 * While the gateway runs with LEGWAY_DEV_LOGIN=true, the call page offers a login form (user tokens only).
 */
import { devLogin, type DevLogin } from '../client/index.js';

export interface HashCredentials {
  token: string;
  conversation?: string;
}

/** A token (and conversation) given in the page's URL fragment; removed from the address bar once read. */
export function credentialsFromHash(): HashCredentials | undefined {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (!token) return undefined;
  history.replaceState(null, '', location.pathname + location.search);
  const conversation = params.get('conversation');
  return { token, ...(conversation && { conversation }) };
}

/** True when the gateway offers its development login. */
export async function devLoginAvailable(): Promise<boolean> {
  try {
    const res = await fetch('/dev/login');
    return res.ok;
  } catch {
    return false;
  }
}

export { devLogin, type DevLogin };
