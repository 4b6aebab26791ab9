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

/** One WebRTC peer connection's media: created from the peer's offer, answered, then audio in and out. */
export interface WebRtcEndpoint {
  readonly id: string;
  /** The SDP answer to the offer the endpoint was created from. */
  readonly answer: string;
  addRemoteCandidate(candidate: IceCandidateInit): Promise<void>;
  /** Sends one Opus frame (20 ms) of this leg's mix to the peer. */
  sendAudio(opusFrame: Buffer): void;
  on<E extends keyof EndpointEvents>(event: E, listener: (...args: EndpointEvents[E]) => void): () => void;
  /** Frees the endpoint's transports and ports; harmless twice. */
  close(): Promise<void>;
}

export interface MediaEngine {
  /** Builds an endpoint from a peer's SDP offer (throws `BadRequest` for an offer it cannot answer). */
  createWebRtcEndpoint(options: { conversationId: string; legId: string; offerSdp: string }): Promise<WebRtcEndpoint>;
  close(): Promise<void>;
}
