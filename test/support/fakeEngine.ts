/**
 * A media engine without media: the fake that src/media/engine.ts promises for tests of legs and
 * machines. Deterministic and network-free: an endpoint answers a fixed SDP at once, reports only
 * what the test tells it to (`report`), hears only what the test feeds it (`feedAudio`), and keeps
 * everything the gateway did to it (audio sent, candidates, offers and answers, video pause,
 * closes) for the test to assert on. The engine can refuse offers, fail or hold its next creation.
 */
import { fail } from '../../src/domain/errors.js';
import { TypedEmitter } from '../../src/lib/typedEmitter.js';
import { FRAME_SAMPLES } from '../../src/media/audio/frame.js';
import { FrameEncoder } from '../../src/media/audio/opusEncoder.js';
import type { AudioPacket, EndpointEvents, EndpointStatus, IceCandidateInit, MediaEngine, WebRtcEndpoint } from '../../src/media/engine.js';
import { sine } from './tone.js';

/** What `createWebRtcEndpoint` was asked for. */
export interface CreateRequest {
  conversationId: string;
  legId: string;
  offerSdp: string;
}

/** The answer every fake endpoint gives: a plausible ICE-lite, DTLS-SRTP, Opus-only answer. */
export const FAKE_ANSWER_SDP = [
  'v=0',
  'o=legway-fake 1 1 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=ice-lite',
  'a=group:BUNDLE 0',
  'a=msid-semantic: WMS *',
  'm=audio 40000 UDP/TLS/RTP/SAVPF 100',
  'c=IN IP4 127.0.0.1',
  'a=mid:0',
  'a=ice-ufrag:fakeufrag00000000',
  'a=ice-pwd:fakepassword000000000000000000000',
  'a=fingerprint:sha-256 ' + Array.from({ length: 32 }, () => 'AB').join(':'),
  'a=setup:passive',
  'a=rtpmap:100 opus/48000/2',
  'a=fmtp:100 minptime=10;useinbandfec=1',
  'a=rtcp-mux',
  'a=sendrecv',
  'a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host',
  'a=end-of-candidates',
  '',
].join('\r\n');

/** An offer as a browser would send it (audio, and video when asked), with `extra` lines appended to the session. */
export function fakeOfferSdp(options: { video?: boolean; extra?: string } = {}): string {
  const lines = [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    `a=group:BUNDLE 0${options.video ? ' 1' : ''}`,
    ...(options.extra === undefined ? [] : [options.extra]),
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'c=IN IP4 0.0.0.0',
    'a=mid:0',
    'a=ice-ufrag:peerufrag',
    'a=ice-pwd:peerpassword0000000000000',
    'a=fingerprint:sha-256 ' + Array.from({ length: 32 }, () => 'CD').join(':'),
    'a=setup:actpass',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-mux',
    'a=sendrecv',
  ];
  if (options.video) lines.push('m=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=mid:1', 'a=rtpmap:96 VP8/90000', 'a=rtcp-mux', 'a=sendrecv');
  return [...lines, ''].join('\r\n');
}

/** A creation held by `holdNext()`: it has been (or will be) asked for, and waits for `release()`. */
export interface HeldCreation {
  /** Resolves with the request once the gateway has asked for the endpoint. */
  readonly asked: Promise<CreateRequest>;
  /** Lets the creation finish as it would have without the hold (made, refused or failed). */
  release(): void;
}

interface Hold extends HeldCreation {
  arrive(request: CreateRequest): void;
  readonly released: Promise<void>;
}

function makeHold(): Hold {
  let arrive!: (request: CreateRequest) => void;
  let release!: () => void;
  const asked = new Promise<CreateRequest>((resolve) => (arrive = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  return { asked, released, arrive, release };
}

/** One leg's fake media. Reports and audio come from the test; everything the gateway does is recorded. */
export class FakeWebRtcEndpoint implements WebRtcEndpoint {
  readonly answer = FAKE_ANSWER_SDP;
  readonly sendsVideo: boolean;
  /** Every Opus frame the bridge sent to the peer (the leg's mix), in order. */
  readonly sentAudio: Buffer[] = [];
  readonly candidates: IceCandidateInit[] = [];
  /** The gateway's offers (`createOffer`) and the peer's answers it applied, in order. */
  readonly offers: string[] = [];
  readonly appliedAnswers: string[] = [];
  /** Each `setVideoPaused` call's argument, in order. */
  readonly videoPauseCalls: boolean[] = [];
  /** Sources whose video this endpoint forwards (`receiveVideoFrom`), by endpoint id. */
  readonly forwarding = new Set<string>();
  /** How many times `close()` was called (the gateway should free an endpoint once). */
  closeCalls = 0;
  /** Why the endpoint ended ('closed', or the reason given to `die`); undefined while open. */
  closedReason: string | undefined;
  private readonly emitter: TypedEmitter<EndpointEvents>;
  private offerPending = false;
  private offerVersion = 1;

  constructor(
    readonly request: CreateRequest,
    onListenerError: (err: unknown) => void,
  ) {
    this.sendsVideo = /^m=video /m.test(request.offerSdp);
    this.emitter = new TypedEmitter<EndpointEvents>((err) => onListenerError(err));
  }

  get id(): string {
    return this.request.legId;
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  get videoPaused(): boolean {
    return this.videoPauseCalls.at(-1) ?? false;
  }

  // ---- Driven by the test ----

  /** Emits a status as the transport would (ignored once closed, as a closed transport reports nothing). */
  report(status: EndpointStatus): void {
    if (!this.closed) this.emitter.emit('status', status);
  }

  /** ICE then DTLS up, as a browser's connection reports it. */
  connect(): void {
    this.report({ kind: 'ice', state: 'connected' });
    this.report({ kind: 'dtls', state: 'connecting' });
    this.report({ kind: 'dtls', state: 'connected' });
  }

  /** One RTP packet from the peer (ignored once closed). */
  feedAudio(packet: AudioPacket): void {
    if (!this.closed) this.emitter.emit('audio', packet);
  }

  /** The endpoint goes without being asked (its worker died): 'closed' fires with `reason`. */
  die(reason = 'media worker died'): void {
    this.finish(reason);
  }

  // ---- The port, as the gateway uses it ----

  sendAudio(opusFrame: Buffer): void {
    if (!this.closed) this.sentAudio.push(opusFrame);
  }

  on<E extends keyof EndpointEvents>(event: E, listener: (...args: EndpointEvents[E]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  addRemoteCandidate(candidate: IceCandidateInit): Promise<void> {
    this.candidates.push(candidate);
    return Promise.resolve();
  }

  receiveVideoFrom(source: WebRtcEndpoint): Promise<boolean> {
    const added = source !== this && source.sendsVideo && this.sendsVideo && !this.closed && !this.forwarding.has(source.id);
    if (added) this.forwarding.add(source.id);
    return Promise.resolve(added);
  }

  stopVideoFrom(sourceId: string): boolean {
    return this.forwarding.delete(sourceId) && !this.closed;
  }

  createOffer(): string {
    this.offerVersion++;
    this.offerPending = true;
    const video = [...this.forwarding].map(
      (source, i) => `m=video 40000 UDP/TLS/RTP/SAVPF 96\r\na=mid:v${String(i)}\r\na=msid:${source} video\r\na=sendonly\r\n`,
    );
    const offer = FAKE_ANSWER_SDP.replace('o=legway-fake 1 1', `o=legway-fake 1 ${String(this.offerVersion)}`) + video.join('');
    this.offers.push(offer);
    return offer;
  }

  checkAnswer(sdp: string): void {
    if (!this.offerPending) throw fail('InvalidState', 'no offer is waiting for an answer');
    if (!sdp.startsWith('v=0')) throw fail('BadRequest', 'fake endpoint: an answer starts with v=0');
  }

  applyAnswer(sdp: string): Promise<void> {
    this.checkAnswer(sdp);
    this.offerPending = false;
    this.appliedAnswers.push(sdp);
    return Promise.resolve();
  }

  setVideoPaused(paused: boolean): Promise<void> {
    this.videoPauseCalls.push(paused);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closeCalls++;
    this.finish('closed');
    return Promise.resolve();
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closedReason = reason;
    this.emitter.emit('closed', reason);
  }
}

/**
 * The engine: makes a FakeWebRtcEndpoint per offer and keeps each by leg id. `refuseOffersContaining`
 * makes it refuse matching offers `BadRequest`; `failNext` and `holdNext` steer the next creation.
 */
export class FakeMediaEngine implements MediaEngine {
  /** Every creation asked for, in order (refused and failed ones included). */
  readonly requests: CreateRequest[] = [];
  /** Every endpoint made, in order. */
  readonly made: FakeWebRtcEndpoint[] = [];
  /** What any endpoint listener threw (the gateway's listeners should never throw). */
  readonly listenerErrors: unknown[] = [];
  closeCalls = 0;
  private readonly refused = new Set<string>();
  private readonly failures: Error[] = [];
  private readonly holds: Hold[] = [];
  private inFlight = 0;

  /** Offers containing `marker` are refused `BadRequest`, as an engine refuses an offer it cannot answer. */
  refuseOffersContaining(marker: string): void {
    this.refused.add(marker);
  }

  /** The next creation rejects with `error` (a coded `fail(...)` or any Error). */
  failNext(error: Error): void {
    this.failures.push(error);
  }

  /** The next creation waits until the returned hold is released (to test what happens meanwhile). */
  holdNext(): HeldCreation {
    const hold = makeHold();
    this.holds.push(hold);
    return hold;
  }

  /** The endpoint made for a leg; throws when there is none. */
  endpoint(legId: string): FakeWebRtcEndpoint {
    const endpoint = this.made.find((e) => e.id === legId);
    if (!endpoint) throw new Error(`the fake engine made no endpoint for leg ${legId}`);
    return endpoint;
  }

  /** Endpoints made and not closed yet. */
  get open(): number {
    return this.made.filter((e) => !e.closed).length;
  }

  /** Creations asked for and not finished yet (held ones). */
  get pending(): number {
    return this.inFlight;
  }

  async createWebRtcEndpoint(options: { conversationId: string; legId: string; offerSdp: string }): Promise<WebRtcEndpoint> {
    const request: CreateRequest = { conversationId: options.conversationId, legId: options.legId, offerSdp: options.offerSdp };
    this.requests.push(request);
    const hold = this.holds.shift();
    const failure = this.failures.shift();
    this.inFlight++;
    try {
      if (hold) {
        hold.arrive(request);
        await hold.released;
      }
    } finally {
      this.inFlight--;
    }
    if (failure) throw failure;
    for (const marker of this.refused) {
      if (options.offerSdp.includes(marker)) throw fail('BadRequest', `the fake engine refuses offers with ${marker}`);
    }
    if (this.closeCalls > 0) throw fail('Unavailable', 'the fake engine is closed');
    const endpoint = new FakeWebRtcEndpoint(request, (err) => this.listenerErrors.push(err));
    this.made.push(endpoint);
    return endpoint;
  }

  /** Closes every endpoint still open; harmless twice. */
  async close(): Promise<void> {
    this.closeCalls++;
    await Promise.all(this.made.filter((e) => !e.closed).map((e) => e.close()));
  }
}

/** Successive real Opus packets of a sine tone (0 Hz: silence), 20 ms each, as a peer's microphone sends them. */
export class OpusTone {
  private readonly encoder = new FrameEncoder();
  private seq = 0;
  private phase = 0;

  constructor(
    public frequency: number,
    private readonly amplitude = 8000,
  ) {}

  next(): AudioPacket {
    const frame = this.frequency === 0 ? new Int16Array(FRAME_SAMPLES) : sine(this.frequency, this.amplitude, FRAME_SAMPLES, 48_000, this.phase);
    this.phase = (this.phase + (2 * Math.PI * this.frequency * FRAME_SAMPLES) / 48_000) % (2 * Math.PI);
    const packet = { sequenceNumber: this.seq & 0xffff, timestamp: (this.seq * FRAME_SAMPLES) >>> 0, payload: this.encoder.encode(frame) };
    this.seq++;
    return packet;
  }
}
