import type { Core } from 'sip.js';

/**
 * How long an INVITE waits for its owner's first response before the server sends 100 (Trying)
 * itself. RFC 3261 §17.2.1: the server transaction sends 100 (Trying) unless the TU generates a
 * provisional or final response within 200 ms; half of that leaves room for a busy event loop.
 */
export const TRYING_DELAY_MS = 100;

/**
 * Sends 100 (Trying) for `request` only if its owner has not responded `delayMs` after this call.
 * A call the gateway rings or answers at once gets its 180 as its first response, one datagram and
 * one response built fewer per call; one that waits (an answer URL, a full machine) still hears
 * from us well before the caller's first retransmission (T1, 500 ms).
 */
export function deferTrying(request: Core.IncomingInviteRequest, delayMs = TRYING_DELAY_MS): void {
  const timer = setTimeout(() => {
    try {
      request.trying();
    } catch {
      // Already past Proceeding (a final response, or the transaction ended): nothing to acknowledge.
    }
  }, delayMs);
  timer.unref();
  // Any response the owner sends (or the server's own 487 to a CANCEL) makes the 100 needless.
  const clearingTimer =
    <A extends unknown[], R>(send: (...args: A) => R) =>
    (...args: A): R => {
      clearTimeout(timer);
      return send(...args);
    };
  request.progress = clearingTimer(request.progress.bind(request));
  request.accept = clearingTimer(request.accept.bind(request));
  request.reject = clearingTimer(request.reject.bind(request));
  request.redirect = clearingTimer(request.redirect.bind(request));
}
