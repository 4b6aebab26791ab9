import type { Logger } from 'pino';
import type { WebRtcEndpoint } from '../engine.js';

interface SfuLeg {
  endpoint: WebRtcEndpoint;
  /** Asks the leg to offer its peer the changed session (the leg's machine serializes offers). */
  renegotiate: () => void;
}

/**
 * A conversation's video, forwarded without transcoding: every connected WebRTC leg receives the
 * video of every other leg that sends some. A leg that joins gets the others' video, and the
 * others get its video, each through a renegotiation; a leg that leaves is taken out of the others'
 * sessions the same way. Video mute is the publishing endpoint's own business (it pauses).
 */
export class VideoSfu {
  private readonly legs = new Map<string, SfuLeg>();

  constructor(private readonly logger: Logger) {}

  get size(): number {
    return this.legs.size;
  }

  /** A leg whose media is connected joins the conversation's video. */
  async add(legId: string, endpoint: WebRtcEndpoint, renegotiate: () => void): Promise<void> {
    if (this.legs.has(legId)) return;
    this.legs.set(legId, { endpoint, renegotiate });
    let changed = false;
    try {
      for (const [otherId, other] of [...this.legs]) {
        if (otherId === legId) continue;
        if (other.endpoint.sendsVideo && (await endpoint.receiveVideoFrom(other.endpoint))) changed = true;
        if (endpoint.sendsVideo && (await other.endpoint.receiveVideoFrom(endpoint))) {
          // Either leg may have left while the video was being piped.
          if (!this.legs.has(legId)) other.endpoint.stopVideoFrom(legId);
          else if (this.legs.has(otherId)) other.renegotiate();
        }
      }
    } catch (err) {
      this.logger.error({ err, leg_id: legId }, 'could not set up video forwarding');
    }
    if (changed && this.legs.has(legId)) renegotiate();
  }

  /** A leg leaves: the others stop receiving its video. */
  remove(legId: string): void {
    if (!this.legs.delete(legId)) return;
    for (const other of this.legs.values()) {
      if (other.endpoint.stopVideoFrom(legId)) other.renegotiate();
    }
  }
}
