import { randomInt } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import { TypedEmitter } from '../../lib/typedEmitter.js';
import { parseRtp, RtpPacketizer } from '../audio/rtp.js';
import type { EndpointEvents, IceCandidateInit, WebRtcEndpoint } from '../engine.js';
import { writeAnswer } from './answer.js';
import { MID_EXTENSION, readOffer } from './offer.js';

export interface EndpointNetwork {
  listenIp: string;
  announcedAddress: string | undefined;
  portRange: { min: number; max: number };
}

const OPUS = { mimeType: 'audio/opus', clockRate: 48000, channels: 2 } as const;

/**
 * A WebRTC leg's media on mediasoup: a router of its own (created with the payload type the
 * peer offered, since a consumer sends with its router's numbers), a WebRtcTransport to the
 * peer, and a DirectTransport that carries the peer's audio into Node and the leg's mix back out.
 */
export class MediasoupWebRtcEndpoint implements WebRtcEndpoint {
  private readonly emitter = new TypedEmitter<EndpointEvents>();
  private closedReason: string | undefined;

  private constructor(
    readonly id: string,
    readonly answer: string,
    readonly router: ms.Router,
    private readonly mix: { producer: ms.Producer; packetizer: RtpPacketizer } | undefined,
  ) {}

  /** Builds the endpoint from the peer's offer; on any failure everything created is closed again. */
  static async create(
    createRouter: (codecs: ms.RtpCodecCapability[]) => Promise<ms.Router>,
    legId: string,
    offerSdp: string,
    network: EndpointNetwork,
  ): Promise<MediasoupWebRtcEndpoint> {
    const { session, audio } = readOffer(offerSdp);
    const router = await createRouter([{ kind: 'audio', ...OPUS, preferredPayloadType: audio.payloadType }]);
    try {
      const transport = await router.createWebRtcTransport({
        listenInfos: [
          {
            protocol: 'udp',
            ip: network.listenIp,
            ...(network.announcedAddress !== undefined && { announcedAddress: network.announcedAddress }),
            portRange: network.portRange,
          },
        ],
        appData: { legId },
      });
      await transport.connect({
        dtlsParameters: { role: audio.peerDtlsRole, fingerprints: [audio.remoteFingerprint as ms.DtlsFingerprint] },
      });
      const direct = await router.createDirectTransport();

      let inbound: ms.Consumer | undefined;
      if (audio.peerSends) {
        const producer = await transport.produce({
          kind: 'audio',
          rtpParameters: {
            mid: audio.mid,
            codecs: [{ ...OPUS, payloadType: audio.payloadType, parameters: audio.fmtp }],
            headerExtensions: audio.midExtensionId === undefined ? [] : [{ uri: MID_EXTENSION, id: audio.midExtensionId }],
            encodings: [audio.ssrc === undefined ? {} : { ssrc: audio.ssrc }],
            rtcp: { reducedSize: true },
          },
        });
        inbound = await direct.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
      }

      let mix: { producer: ms.Producer; packetizer: RtpPacketizer } | undefined;
      let sendSsrc: number | undefined;
      if (audio.peerReceives) {
        const ssrc = randomInt(1, 0xffffffff);
        const producer = await direct.produce({
          kind: 'audio',
          rtpParameters: { codecs: [{ ...OPUS, payloadType: audio.payloadType }], encodings: [{ ssrc }] },
        });
        const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
        sendSsrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
        mix = { producer, packetizer: new RtpPacketizer(audio.payloadType, ssrc) };
      }

      const fingerprint = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? transport.dtlsParameters.fingerprints[0];
      if (!fingerprint) throw new Error('transport has no DTLS fingerprint');
      const answer = writeAnswer(session, audio, {
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
        sendSsrc,
        cname: `legway-${legId.slice(0, 8)}`,
      });

      const endpoint = new MediasoupWebRtcEndpoint(legId, answer, router, mix);
      transport.on('icestatechange', (state) => endpoint.emitter.emit('status', { kind: 'ice', state }));
      transport.on('dtlsstatechange', (state) => endpoint.emitter.emit('status', { kind: 'dtls', state }));
      inbound?.on('rtp', (packet) => {
        const rtp = parseRtp(packet);
        if (rtp) endpoint.emitter.emit('audio', { sequenceNumber: rtp.sequenceNumber, timestamp: rtp.timestamp, payload: rtp.payload });
      });
      router.observer.once('close', () => endpoint.finish('closed'));
      return endpoint;
    } catch (err) {
      router.close();
      throw err;
    }
  }

  // mediasoup is ICE-lite: it learns the peer's address from its connectivity checks, so trickled
  // candidates need no action; they are accepted for protocol compatibility.
  addRemoteCandidate(candidate: IceCandidateInit): Promise<void> {
    if (candidate.candidate.length > 1024) return Promise.reject(new Error('candidate too long'));
    return Promise.resolve();
  }

  sendAudio(opusFrame: Buffer): void {
    if (!this.mix || this.closedReason !== undefined) return;
    this.mix.producer.send(this.mix.packetizer.packet(opusFrame));
  }

  on<E extends keyof EndpointEvents>(event: E, listener: (...args: EndpointEvents[E]) => void): () => void {
    return this.emitter.on(event, listener);
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

  private finish(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.emitter.emit('closed', reason);
  }
}
