/**
 * Two-party forwarding: while a conversation is just two legs of one codec and nothing else needs
 * its audio (no player, no tap, no mute, earmuff, hold or audience limit), each leg is sent the
 * other's packets as they came, with no decoding and no encoding. The bridge checks every tick and
 * mixes again the moment that stops being so; both paths take the same packet from the same jitter
 * buffer on the same tick, so the switch costs the listener no gap, only a change of encoder, which
 * its decoder rides out as it would any stream.
 */
import type { BridgeLeg } from './bridgeLeg.js';

/** The pair of legs to forward between this tick, or undefined when the bridge must mix. */
export function forwardingPair(legs: Iterable<BridgeLeg>, count: number, playing: boolean, tapped: boolean): [BridgeLeg, BridgeLeg] | undefined {
  if (count !== 2 || playing || tapped) return undefined;
  const [a, b] = legs;
  if (a === undefined || b === undefined || !forwardable(a) || !forwardable(b)) return undefined;
  const codec = a.audio.codec?.();
  if (codec === undefined || codec.forwards === false) return undefined;
  return codec.key === b.audio.codec?.()?.key ? [a, b] : undefined;
}

function forwardable(leg: BridgeLeg): boolean {
  const { audio } = leg;
  if (leg.muted || leg.earmuffed || leg.held || leg.restricted) return false;
  return audio.receive !== undefined && audio.sendEncoded !== undefined && audio.codec !== undefined;
}

/** What was last forwarded from one leg, to stand in once for a packet that did not come. */
interface Sent {
  payload: Buffer | undefined;
  repeats: number;
}

/** Gaps bridged by sending the last packet again; after that, silence (as concealment fades out). */
const MAX_REPEATS = 1;

/** Sends each of two legs the other's packets. */
export class Forwarding {
  /** Packets sent on as they came (repeats included). */
  forwarded = 0;
  private readonly sent = new Map<string, Sent>();

  /** This tick: each leg gets the packet the other took from its jitter buffer (after `take()`). */
  run(a: BridgeLeg, b: BridgeLeg): void {
    // Another pair than last tick's (a leg left and another came between two ticks): start afresh.
    if (this.sent.size > 2 || (this.sent.size > 0 && !this.sent.has(a.id) && !this.sent.has(b.id))) this.sent.clear();
    this.send(a, b);
    this.send(b, a);
  }

  /** Forgets what was sent (the bridge mixes again; a later forwarding starts afresh). */
  reset(): void {
    if (this.sent.size > 0) this.sent.clear();
  }

  private send(from: BridgeLeg, to: BridgeLeg): void {
    const out = to.audio;
    const received = from.received;
    const codec = from.audio.codec?.();
    if (out.sendEncoded === undefined || received === undefined || codec === undefined) return;
    let sent = this.sent.get(from.id);
    if (sent === undefined) {
      sent = { payload: undefined, repeats: 0 };
      this.sent.set(from.id, sent);
    }
    if (received.kind === 'frame' && received.payload !== undefined && codec.forwardable(received.payload)) {
      sent.payload = received.payload;
      sent.repeats = 0;
      out.sendEncoded(received.payload);
      this.forwarded++;
    } else if (received.kind !== 'empty' && sent.payload !== undefined && sent.repeats < MAX_REPEATS) {
      // A lost (or unforwardable) packet: the last one once more keeps the sound going, as concealment would.
      sent.repeats++;
      out.sendEncoded(sent.payload);
      this.forwarded++;
    } else {
      if (received.kind === 'empty') sent.payload = undefined;
      out.sendSilence();
    }
  }
}
