/**
 * Tests that need a real peer (SIPp, Chromium, baresip) skip with a printed reason where the peer
 * cannot exist. Under CI (`LEGWAY_REQUIRE_PEERS=1`, set by .ci/run, which installs them) a missing
 * peer is a failure instead: a suite must never pass by skipping what it was meant to check.
 */

/** `reason` when the peer is missing and skipping is allowed; throws when peers are required. */
export function peerMissing(reason: string | undefined): string | undefined {
  if (reason !== undefined && process.env['LEGWAY_REQUIRE_PEERS'] === '1') {
    throw new Error(`${reason} (LEGWAY_REQUIRE_PEERS=1: required peers may not be skipped)`);
  }
  return reason;
}
