/**
 * A SIP leg's RTP session as the call and its runner use it: the endpoint itself (in-process), or
 * its proxy when the endpoint runs on a media thread (src/media/threads/threadRtp.ts).
 */
import type { DtmfPress } from './dtmf.js';
import type { PlayoutStats } from './playoutTypes.js';
import type { MediaDirection, RtpCodecConfig, RtpStats } from './rtpEndpoint.js';
import type { UdpAddress } from './udpAddress.js';

export interface SipRtpEvents {
  [event: string]: unknown[];
  dtmf: [DtmfPress & { method: 'rfc4733' }];
  inactive: [{ idleMs: number }];
  /** The media is gone for good (its media thread died): the call must end. */
  failed: [string];
}

/** A SIP leg's audio in the bridge: its playout counters, and freeing it. */
export interface SipLegAudio {
  readonly playoutStats: (Readonly<PlayoutStats> & { codec: string }) | undefined;
  close(): void;
}

export interface SipRtp {
  readonly port: number;
  readonly codec: RtpCodecConfig | undefined;
  readonly stats: RtpStats;
  readonly closed: boolean;
  configure(config: RtpCodecConfig): void;
  setRemote(remote: UdpAddress & { rtcpPort?: number | undefined }): void;
  hold(direction: MediaDirection): void;
  sendDtmf(digits: string): Promise<void>;
  on<E extends keyof SipRtpEvents>(event: E, listener: (...args: SipRtpEvents[E]) => void): () => void;
  close(): Promise<void>;
  /** The leg's audio for the bridge, once the codec is known; in-band DTMF goes to `onInbandDtmf`. */
  legAudio(onInbandDtmf?: (press: DtmfPress) => void): SipLegAudio;
}
