/**
 * The media engine port: what legs and the audio bridge need from a media plane. The real
 * implementation runs on mediasoup (src/media/mediasoup/); tests of legs and machines use a fake.
 */

/** States an endpoint reports, by layer, as the browser names them. */
export type EndpointStatus =
  | { kind: 'ice'; state: 'new' | 'connected' | 'completed' | 'disconnected' | 'closed' }
  | { kind: 'dtls'; state: 'new' | 'connecting' | 'connected' | 'failed' | 'closed' };

/** A trickled ICE candidate as browsers send it (`RTCIceCandidateInit`). */
export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

/** One RTP packet's payload with the fields the bridge needs. */
export interface AudioPacket {
  sequenceNumber: number;
  timestamp: number;
  payload: Buffer;
}

export interface EndpointEvents {
  [event: string]: unknown[];
  status: [EndpointStatus];
  /** The peer's audio (Opus, 48 kHz), one RTP packet at a time. */
  audio: [AudioPacket];
  /** The endpoint is gone (closed here, or its worker died); fires once. */
  closed: [string];
}

/** What the audio bridge needs of a leg's media: its audio in (`audio` events) and the mix out. */
export interface AudioEndpoint {
  readonly id: string;
  /** Sends one Opus frame (20 ms) of this leg's mix to the peer. */
  sendAudio(opusFrame: Buffer): void;
  on<E extends keyof EndpointEvents>(event: E, listener: (...args: EndpointEvents[E]) => void): () => void;
}

/**
 * One WebRTC peer connection's media: created from the peer's offer, answered, then audio in and
 * out, the peer's video (if it sends any) published, and others' video forwarded to it in sections
 * that the gateway adds with offers of its own (renegotiation).
 */
export interface WebRtcEndpoint extends AudioEndpoint {
  /** The SDP answer to the offer the endpoint was created from. */
  readonly answer: string;
  /** Whether the peer sends video that others can receive. */
  readonly sendsVideo: boolean;
  addRemoteCandidate(candidate: IceCandidateInit): Promise<void>;
  /**
   * Starts forwarding `source`'s video to this peer, paused until the peer accepts it in an answer
   * to `createOffer()`. False when there is nothing to add (no video, already forwarded, closed).
   */
  receiveVideoFrom(source: WebRtcEndpoint): Promise<boolean>;
  /** Stops forwarding `sourceId`'s video; true when the session changed (an offer is due). */
  stopVideoFrom(sourceId: string): boolean;
  /** The gateway's offer for the session as it is now (new sections, stopped ones rejected). */
  createOffer(): string;
  /** Checks the peer's answer to the last offer (`BadRequest` when it does not fit), without applying it. */
  checkAnswer(sdp: string): void;
  /** Applies a checked answer: accepted video sections start flowing (with a key frame request). */
  applyAnswer(sdp: string): Promise<void>;
  /** Pauses or resumes forwarding the peer's own video to everyone (video mute). */
  setVideoPaused(paused: boolean): Promise<void>;
  /** Frees the endpoint's transports and ports; harmless twice. */
  close(): Promise<void>;
}

export interface MediaEngine {
  /** Builds an endpoint from a peer's SDP offer (throws `BadRequest` for an offer it cannot answer). */
  createWebRtcEndpoint(options: { conversationId: string; legId: string; offerSdp: string }): Promise<WebRtcEndpoint>;
  close(): Promise<void>;
}
