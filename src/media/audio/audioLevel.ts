/**
 * The sender's audio level as RFC 6464 carries it in an RTP header extension: 0 (0 dBov, the
 * loudest) to 127 (−127 dBov, silence), measured by the sender on what it encoded. A mixer that has
 * it knows who is speaking, and how loudly, without decoding a packet.
 */
import type { AudioPacket } from '../engine.js';

/** An audio packet with the sender's level, when its RTP carried the extension (endpoints that read it fill it in). */
export type LevelledAudioPacket = AudioPacket & { readonly audioLevel?: number | undefined };

/** The RFC 6464 level −127 dBov means silence (a muted or idle source). */
const SILENT_LEVEL = 127;

/**
 * A level in dBFS as `frameDbfs` measures a decoded frame (RMS against full scale): RFC 6464's
 * dBov is the same scale, as browsers compute it; −Infinity for the silence code.
 */
export function audioLevelDbfs(level: number): number {
  return level >= SILENT_LEVEL ? -Infinity : -Math.max(0, level);
}
