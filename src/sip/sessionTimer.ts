/**
 * Session timers (RFC 4028) as a UAS: when the caller asks for them (`Session-Expires`, and
 * `Supported: timer`), the gateway accepts the interval, makes the caller the refresher (it
 * refreshes with re-INVITEs), and ends a call whose refresh does not come in time.
 */

/** The smallest interval the gateway accepts (RFC 4028's recommended Min-SE). */
export const MIN_SE = 90;

export type SessionTimerRequest =
  | { kind: 'none' }
  /** The interval is below our minimum: answer 422 with `Min-SE`. */
  | { kind: 'too-small' }
  | { kind: 'timer'; interval: number };

/** Reads what the caller asks for from its INVITE (or re-INVITE) headers. */
export function readSessionTimer(sessionExpires: string | undefined, supported: readonly string[]): SessionTimerRequest {
  if (sessionExpires === undefined) return { kind: 'none' };
  const seconds = Number(/^\s*(\d{1,10})/.exec(sessionExpires)?.[1]);
  if (!Number.isFinite(seconds)) return { kind: 'none' };
  // Without `timer` support on the caller's side, the gateway would have to refresh itself; it
  // does not, and RFC 4028 lets it then run the call without a timer.
  const callerSupports = supported.some((value) => value.split(',').some((tag) => tag.trim().toLowerCase() === 'timer'));
  if (!callerSupports) return { kind: 'none' };
  if (seconds < MIN_SE) return { kind: 'too-small' };
  return { kind: 'timer', interval: seconds };
}

/** Headers of our 2xx that accept the timer with the caller as refresher. */
export function sessionTimerHeaders(interval: number): string[] {
  return [`Session-Expires: ${String(interval)};refresher=uac`, 'Require: timer'];
}

/** When, after a refresh, the call is ended for want of the next one (RFC 4028 10: expiry minus min(32 s, interval/3)). */
export function expiryMs(interval: number): number {
  return (interval - Math.min(32, interval / 3)) * 1000;
}
