/**
 * The caller and dialled names of a SIP request, checked before anything is allocated for the
 * call: they become member names and event bodies, so an over-long or control-laden user part is
 * refused up front (SIP 400) rather than failing halfway through setting the call up.
 */
import { fail } from '../../domain/errors.js';

/** Longest SIP user part taken as a caller or dialled name (E.164 needs 16; SIP users are short). */
export const MAX_SIP_USER = 128;

// eslint-disable-next-line no-control-regex -- the point is to refuse control characters
const UNPRINTABLE = /[\u0000-\u001f\u007f\s]/;

/** `user` (a URI's user part) as a name, or `fallback` when there is none; `ValidationFailed` when unusable. */
export function sipUserName(user: string | undefined, fallback: string, what: string): string {
  if (user === undefined || user.length === 0) return fallback;
  if (user.length > MAX_SIP_USER) throw fail('ValidationFailed', `${what} is longer than ${MAX_SIP_USER} characters`);
  if (UNPRINTABLE.test(user)) throw fail('ValidationFailed', `${what} holds spaces or control characters`);
  return user;
}
