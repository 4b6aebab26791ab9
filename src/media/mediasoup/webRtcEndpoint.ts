import { randomInt } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import { fail } from '../../domain/errors.js';
import { TypedEmitter } from '../../lib/typedEmitter.js';
import { RtpPacketizer } from '../audio/rtp.js';
import type { EndpointEvents, IceCandidateInit, WebRtcEndpoint } from '../engine.js';
import { writeLocalSdp, type LocalSection, type LocalTransport, type SectionCodec } from './localSdp.js';
import { LoopbackRtp } from './loopbackRtp.js';
import { attachAudio } from './loopbackAudio.js';
import { LoopbackProxy } from '../threads/loopbackProxy.js';
import type { MediaThreads } from '../threads/mediaThreads.js';
import { pipeProducer, type Pipe } from './pipe.js';
import { directionOf, freePayloadType, midOf, parseSdp, readOffer } from './offer.js';
import { answerSections, audioLevelExtensionOf, capabilitiesFor, OPUS, producerParameters, VIDEO_FEEDBACK, VIDEO_FEEDBACK_LINES, VP8 } from './rtpParameters.js';

export interface EndpointNetwork {
  listenIp: string;
  announcedAddress: string | undefined;
  portRange: { min: number; max: number };
  /** Told of a listener of an endpoint's events that threw (the others still run). */
  onListenerError: (err: unknown, event: string) => void;
  /** The media threads the legs' audio runs on; in this process when undefined. */
  threads?: MediaThreads | undefined;
}

const SECURE_PROFILE = 'UDP/TLS/RTP/SAVPF';
/**
 * Seconds without the peer's ICE consent checks before mediasoup reports ICE 'disconnected', which
 * starts the leg's disconnect grace (LEGWAY_RTC_DISCONNECT_GRACE_S). Set explicitly so that an
 * upgrade cannot move it unseen. 30 s is RFC 7675's consent lifetime and mediasoup's default (the
 * worker accepts 10 to 60): a shorter one would notice a vanished peer sooner, but would also call
 * ICE lost on a network outage that the browser rides out (a Wi-Fi hand-over). A tab closed cleanly
 * does not wait for it: the browser's DTLS close alert ends the leg at once.
 */
const ICE_CONSENT_TIMEOUT_S = 30;
/** A peer that never answers must not grow its session without bound. */
const MAX_SECTIONS = 64;

/** Another leg's video forwarded to this peer, in a section of its own that the gateway offered. */
interface Forwarded {
  mid: string;
  pipe: Pipe;
  consumer: ms.Consumer;
  /** Sent in an offer and waiting for the peer's answer; the consumer stays paused until then. */
  offered: boolean;
  /** Pending key frame requests (see `requestKeyFrames`). */
  timers: NodeJS.Timeout[];
}

/**
 * When, after a forwarded video starts, to ask its sender for a key frame (ms). A request made
 * before the first packet has crossed the pipe is dropped by mediasoup, and until a key frame
 * arrives the receiver shows nothing; a few requests over the first seconds cost a few RTCP packets.
 */
const KEY_FRAME_RETRIES_MS = [0, 300, 1000, 2500];

interface Parts {
  answer: string;
  transport: ms.WebRtcTransport;
  local: LocalTransport;
  sections: LocalSection[];
  sessionId: number;
  /** The peer's audio in and the mix out, between the router and Node. */
  loopback: LoopbackRtp | LoopbackProxy;
  /** Packets of the mix, sent into the router's producer; none when the peer does not receive audio. */
  mix: RtpPacketizer | undefined;
  video: ms.Producer | undefined;
  /** The VP8 payload type this peer receives video with (its own, or one its offer leaves free). */
  vp8PayloadType: number | undefined;
  network: EndpointNetwork;
}

/**
 * A WebRTC leg's media on mediasoup: a router of its own (created with the payload types the
 * peer offered, since a consumer sends with its router's numbers), a WebRtcTransport to the peer,
 * a PlainTransport on loopback (LoopbackRtp) that carries the peer's audio into Node and the leg's
 * mix back out, the peer's video published on the router, and other legs' video piped in from
 * their routers.
 */
export class MediasoupWebRtcEndpoint implements WebRtcEndpoint {
  private readonly emitter: TypedEmitter<EndpointEvents>;
  private readonly forwarded = new Map<string, Forwarded>();
  private readonly adding = new Set<string>();
  private closedReason: string | undefined;
  /**
   * Whether DTLS is up: until then the transport has no keys and drops what it is sent, so the
   * mix is not even handed to it (a leg that never connects costs the bridge no packets).
   */
  secured = false;
  private version = 1;
  private nextMid = 0;
  private offerPending = false;

  private constructor(
    readonly id: string,
    readonly router: ms.Router,
    private readonly parts: Parts,
  ) {
    this.emitter = new TypedEmitter<EndpointEvents>((err, event) => parts.network.onListenerError(err, String(event)));
  }

  /** Builds the endpoint from the peer's offer; on any failure everything created is closed again. */
  static async create(
    createRouter: (codecs: ms.RtpCodecCapability[]) => Promise<ms.Router>,
    legId: string,
    offerSdp: string,
    network: EndpointNetwork,
    conversationId: string,
  ): Promise<MediasoupWebRtcEndpoint> {
    const offer = readOffer(offerSdp);
    const { audio, video } = offer;
    const vp8PayloadType = video?.payloadType ?? freePayloadType(offer.usedPayloadTypes);
    const codecs: ms.RtpCodecCapability[] = [{ kind: 'audio', ...OPUS, preferredPayloadType: audio.payloadType }];
    if (vp8PayloadType !== undefined) codecs.push({ kind: 'video', ...VP8, preferredPayloadType: vp8PayloadType, rtcpFeedback: VIDEO_FEEDBACK });
    const router = await createRouter(codecs);
    // The steps that do not depend on one another run at once, so a join waits for the worker (and
    // the media thread) about four times rather than nine: the peer's transport with its connect and
    // producer on one side, the loopback with the mix's producer on the other, then both consumers.
    // Whatever one side made when the other fails goes with the router (a loopback closes with its transport).
    try {
      const ssrc = randomInt(1, 0xffffffff);
      const peerSide = async (): Promise<{ transport: ms.WebRtcTransport; producer: ms.Producer | undefined }> => {
        const transport = await router.createWebRtcTransport({
          listenInfos: [
            {
              protocol: 'udp',
              ip: network.listenIp,
              ...(network.announcedAddress !== undefined && { announcedAddress: network.announcedAddress }),
              portRange: network.portRange,
            },
          ],
          iceConsentTimeout: ICE_CONSENT_TIMEOUT_S,
          appData: { legId },
        });
        const { remoteFingerprint, peerDtlsRole } = offer.transport;
        const [, producer] = await Promise.all([
          transport.connect({ dtlsParameters: { role: peerDtlsRole, fingerprints: [remoteFingerprint as ms.DtlsFingerprint] } }),
          audio.peerSends
            ? transport.produce({ kind: 'audio', rtpParameters: producerParameters(audio, { ...OPUS, parameters: audio.fmtp }, [], audioLevelExtensionOf(offer)) })
            : undefined,
        ]);
        return { transport, producer };
      };
      const loopbackSide = async (): Promise<{ loopback: LoopbackRtp | LoopbackProxy; producer: ms.Producer | undefined }> => {
        const threads = network.threads;
        const loopback = threads ? await LoopbackProxy.open(threads, conversationId, router, network.portRange) : await LoopbackRtp.open(router, network.portRange);
        const producer = audio.peerReceives
          ? await loopback.transport.produce({
              kind: 'audio',
              rtpParameters: { codecs: [{ ...OPUS, payloadType: audio.payloadType }], encodings: [{ ssrc }] },
            })
          : undefined;
        return { loopback, producer };
      };
      const [peer, { loopback: opened, producer: mixProducer }] = await Promise.all([peerSide(), loopbackSide()]);
      const { transport } = peer;
      const cname = `legway-${legId.slice(0, 8)}`;
      const [inbound, mixConsumer] = await Promise.all([
        peer.producer && opened.transport.consume({ producerId: peer.producer.id, rtpCapabilities: router.rtpCapabilities }),
        // No header extensions out: the peer finds this stream by the SSRC the answer declares.
        mixProducer && transport.consume({ producerId: mixProducer.id, rtpCapabilities: capabilitiesFor(router, 'audio'), mid: audio.mid }),
      ]);
      const mixSsrc = mixConsumer?.rtpParameters.encodings?.[0]?.ssrc;
      const mix: Parts['mix'] = mixConsumer && new RtpPacketizer(audio.payloadType, ssrc);

      let videoProducer: ms.Producer | undefined;
      if (video?.peerSends) {
        videoProducer = await transport.produce({ kind: 'video', rtpParameters: producerParameters(video, VP8, VIDEO_FEEDBACK), appData: { legId } });
      }

      const fingerprint = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? transport.dtlsParameters.fingerprints[0];
      if (!fingerprint) throw new Error('transport has no DTLS fingerprint');
      const local: LocalTransport = {
        iceUfrag: transport.iceParameters.usernameFragment,
        icePwd: transport.iceParameters.password,
        fingerprint,
        candidates: transport.iceCandidates.map((c) => ({
          foundation: c.foundation,
          priority: c.priority,
          ip: c.address,
          port: c.port,
          protocol: c.protocol,
          type: c.type,
        })),
        setup: offer.transport.peerDtlsRole === 'client' ? 'passive' : 'active',
      };
      const sections = answerSections(offer, mixSsrc === undefined ? undefined : { ssrc: mixSsrc, cname, streamId: cname, trackId: 'audio' });
      const sessionId = randomInt(1, 2 ** 47);
      const answer = writeLocalSdp(sections, local, { id: sessionId, version: 1 });

      const endpoint = new MediasoupWebRtcEndpoint(legId, router, {
        answer,
        transport,
        local,
        sections,
        sessionId,
        loopback: opened,
        mix,
        video: videoProducer,
        vp8PayloadType,
        network,
      });
      transport.on('icestatechange', (state) => endpoint.emitter.emit('status', { kind: 'ice', state }));
      transport.on('dtlsstatechange', (state) => {
        endpoint.secured = state === 'connected';
        if (opened instanceof LoopbackProxy) opened.setSecured(endpoint.secured);
        endpoint.emitter.emit('status', { kind: 'dtls', state });
      });
      const mixStream = mix && { payloadType: audio.payloadType, ssrc };
      attachAudio(opened, inbound, mixStream, (packet) => endpoint.emitter.emit('audio', packet));
      if (opened instanceof LoopbackProxy) opened.onThreadDeath(() => endpoint.finish('media thread died'));
      // Deferred: when the worker dies, mediasoup closes the router first and reports 'died' right
      // after, and the leg should end with that reason (workerDied) rather than a plain 'closed'.
      router.observer.once('close', () => setImmediate(() => endpoint.finish('closed')));
      return endpoint;
    } catch (err) {
      router.close();
      throw err;
    }
  }

  get answer(): string {
    return this.parts.answer;
  }

  get sendsVideo(): boolean {
    const video = this.parts.video;
    return video !== undefined && !video.closed;
  }

  // mediasoup is ICE-lite: it learns the peer's address from its connectivity checks, so trickled
  // candidates need no action; they are accepted for protocol compatibility.
  addRemoteCandidate(candidate: IceCandidateInit): Promise<void> {
    if (candidate.candidate.length > 1024) return Promise.reject(new Error('candidate too long'));
    return Promise.resolve();
  }

  /** The leg's audio socket on a media thread, when the audio runs there (the bridge takes it from there). */
  get threadMedia(): LoopbackProxy | undefined {
    const loopback = this.parts.loopback;
    return loopback instanceof LoopbackProxy ? loopback : undefined;
  }

  sendAudio(opusFrame: Buffer): void {
    const mix = this.parts.mix;
    const loopback = this.parts.loopback;
    if (!mix || !this.secured || this.closedReason !== undefined || loopback instanceof LoopbackProxy) return;
    loopback.send(mix.packet(opusFrame));
  }

  async receiveVideoFrom(source: WebRtcEndpoint): Promise<boolean> {
    if (!(source instanceof MediasoupWebRtcEndpoint) || source === this) return false;
    const producer = source.parts.video;
    const payloadType = this.parts.vp8PayloadType;
    if (!producer || producer.closed || payloadType === undefined || this.closedReason !== undefined) return false;
    if (this.forwarded.has(source.id) || this.adding.has(source.id) || this.parts.sections.length >= MAX_SECTIONS) return false;
    this.adding.add(source.id);
    let pipe: Pipe | undefined;
    try {
      pipe = await pipeProducer(producer, source.router, this.router, this.parts.network.portRange);
      const mid = `lw${String(this.nextMid++)}`;
      const consumer = await this.parts.transport.consume({
        producerId: pipe.producer.id,
        rtpCapabilities: capabilitiesFor(this.router, 'video'),
        paused: true,
        mid,
      });
      const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
      if (ssrc === undefined || this.closed) {
        pipe.close();
        return false;
      }
      this.forwarded.set(source.id, { mid, pipe, consumer, offered: false, timers: [] });
      const codec: SectionCodec = { payloadType: consumer.rtpParameters.codecs[0]?.payloadType ?? payloadType, name: 'VP8', rate: 90000, feedback: VIDEO_FEEDBACK_LINES };
      this.parts.sections.push({
        rejected: false,
        type: 'video',
        protocol: SECURE_PROFILE,
        mid,
        direction: 'sendonly',
        codec,
        midExtensionId: undefined,
        send: { ssrc, cname: `legway-${source.id.slice(0, 8)}`, streamId: source.id, trackId: consumer.id },
      });
      return true;
    } catch {
      // Either side closed while piping: there is nothing to forward.
      pipe?.close();
      return false;
    } finally {
      this.adding.delete(source.id);
    }
  }

  stopVideoFrom(sourceId: string): boolean {
    const entry = this.forwarded.get(sourceId);
    if (!entry) return false;
    this.forwarded.delete(sourceId);
    for (const timer of entry.timers) clearTimeout(timer);
    entry.consumer.close();
    entry.pipe.close();
    const index = this.parts.sections.findIndex((s) => s.mid === entry.mid);
    const section = this.parts.sections[index];
    if (!section) return false;
    // A section the peer has never seen is simply dropped; one it has seen is rejected in the next offer.
    if (!entry.offered) {
      this.parts.sections.splice(index, 1);
      return false;
    }
    this.parts.sections[index] = { rejected: true, type: 'video', protocol: SECURE_PROFILE, payloads: String(this.parts.vp8PayloadType ?? 0), mid: entry.mid };
    return this.closedReason === undefined;
  }

  createOffer(): string {
    this.version++;
    for (const entry of this.forwarded.values()) entry.offered = true;
    this.offerPending = true;
    return writeLocalSdp(this.parts.sections, this.parts.local, { id: this.parts.sessionId, version: this.version });
  }

  checkAnswer(sdp: string): void {
    if (!this.offerPending) throw fail('InvalidState', 'no offer is waiting for an answer');
    const session = parseSdp(sdp, 'answer');
    const sections = this.parts.sections;
    if (session.media.length !== sections.length) throw fail('BadRequest', `answer has ${String(session.media.length)} media sections; the offer has ${String(sections.length)}`);
    session.media.forEach((m, i) => {
      const s = sections[i];
      if (s && !s.rejected && m.port !== 0 && midOf(m) !== s.mid) throw fail('BadRequest', `answer section ${String(i)} has mid ${midOf(m) ?? 'none'}, not ${s.mid}`);
    });
  }

  async applyAnswer(sdp: string): Promise<void> {
    this.checkAnswer(sdp);
    const session = parseSdp(sdp, 'answer');
    this.offerPending = false;
    for (const [sourceId, entry] of [...this.forwarded]) {
      if (!entry.offered || !entry.consumer.paused) continue;
      const index = this.parts.sections.findIndex((s) => s.mid === entry.mid);
      const m = session.media[index];
      const direction = m ? directionOf(m, session) : 'inactive';
      if (m && m.port !== 0 && (direction === 'recvonly' || direction === 'sendrecv')) {
        await entry.consumer.resume();
        // The receiver starts from a key frame rather than waiting for the sender's next one.
        this.requestKeyFrames(entry);
      } else {
        this.stopVideoFrom(sourceId);
      }
    }
  }

  async setVideoPaused(paused: boolean): Promise<void> {
    const video = this.parts.video;
    if (!video || video.closed) return;
    if (paused) await video.pause();
    else await video.resume();
  }

  on<E extends keyof EndpointEvents>(event: E, listener: (...args: EndpointEvents[E]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  /** Whether the endpoint has ended (a method, so that checks after an await are not narrowed away). */
  private get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Ends the endpoint because its worker died (the router is already gone). */
  workerDied(): void {
    this.finish('media worker died');
  }

  close(): Promise<void> {
    if (!this.router.closed) this.router.close();
    this.finish('closed');
    return Promise.resolve();
  }

  /** Asks the forwarded video's sender for key frames over the first seconds (KEY_FRAME_RETRIES_MS). */
  private requestKeyFrames(entry: Forwarded): void {
    entry.timers = KEY_FRAME_RETRIES_MS.map((delay) =>
      setTimeout(() => {
        if (!entry.consumer.closed) entry.consumer.requestKeyFrame().catch(() => undefined);
      }, delay),
    );
  }

  private finish(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.parts.loopback.close();
    for (const entry of this.forwarded.values()) for (const timer of entry.timers) clearTimeout(timer);
    this.forwarded.clear();
    this.emitter.emit('closed', reason);
  }
}
