/**
 * DTMF keys as the gateway reports them, whichever way they arrived (RFC 4733 events, in-band
 * tones), and the RFC 4733 event codes of the sixteen keys.
 */

/** The sixteen keys in RFC 4733 event-code order: 0-9 are events 0-9, then *, #, A, B, C, D. */
const KEYS = '0123456789*#ABCD';

/** One key press: the key and how long it was held. */
export interface DtmfPress {
  digit: string;
  durationMs: number;
}

/** Whether `digit` is one DTMF key (`0-9 * # A-D`, letters in either case). */
export function isDtmfDigit(digit: string): boolean {
  return digit.length === 1 && KEYS.includes(digit.toUpperCase());
}

/** The RFC 4733 event code of a key, or undefined for anything else. */
export function digitToEvent(digit: string): number | undefined {
  if (digit.length !== 1) return undefined;
  const code = KEYS.indexOf(digit.toUpperCase());
  return code < 0 ? undefined : code;
}

/** The key of an RFC 4733 event code, or undefined for events that are not keys (flash, tones…). */
export function eventToDigit(event: number): string | undefined {
  return Number.isInteger(event) && event >= 0 ? KEYS[event] : undefined;
}
