import wrtc from '@roamhq/wrtc';
import type { Socket } from 'socket.io-client';
import { request } from './gateway.js';

const { RTCPeerConnection, nonstandard } = wrtc;
const RATE = 48_000;
const CHUNK = 480; // 10 ms, what RTCAudioSource takes

/**
 * A real WebRTC peer (libwebrtc through @roamhq/wrtc) that joins a conversation's media over the
 * socket API, sends a sine tone (or silence) and keeps the audio it receives.
 */
export class TestPeer {
  readonly pc = new RTCPeerConnection();
  readonly received: number[] = [];
  legId = '';
  private readonly source = new nonstandard.RTCAudioSource();
  private timer: NodeJS.Timeout | undefined;
  private phase = 0;
  private frequency = 0;
  private sinks: { stop(): void }[] = [];

  constructor(private readonly socket: Socket) {
    this.pc.addTrack(this.source.createTrack());
    this.pc.ontrack = (e: { track: unknown }) => {
      const sink = new nonstandard.RTCAudioSink(e.track) as { ondata: unknown; stop(): void };
      sink.ondata = (d: { samples: Int16Array; channelCount: number }) => {
        for (let i = 0; i < d.samples.length; i += d.channelCount) this.received.push(d.samples[i]!);
      };
      this.sinks.push(sink);
    };
    // Audio must flow from the start (even silence), as from a real microphone.
    this.timer = setInterval(() => this.pump(), 10);
  }

  /** Sets the tone the peer sends (0 = silence). */
  tone(frequency: number): void {
    this.frequency = frequency;
  }

  /** Offers, sends `rtc:new`, applies the answer; returns the ack. */
  async connect(conversationId: string): Promise<any> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    while (this.pc.iceGatheringState !== 'complete') await new Promise((r) => setTimeout(r, 10));
    const ack = await request(this.socket, 'rtc:new', { conversation_id: conversationId, offer: { type: 'offer', sdp: this.pc.localDescription!.sdp } });
    if (!ack.ok) return ack;
    this.legId = ack.leg_id;
    await this.pc.setRemoteDescription(ack.answer);
    return ack;
  }

  /** The last `ms` milliseconds of received audio. */
  lastReceived(ms: number): number[] {
    return this.received.slice(-Math.floor((RATE * ms) / 1000));
  }

  /** Resolves once `ms` more milliseconds of audio have been received. */
  async receiveMore(ms: number, timeoutMs = 10_000): Promise<void> {
    const target = this.received.length + Math.floor((RATE * ms) / 1000);
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < target) {
      if (Date.now() > deadline) throw new Error(`peer received only ${this.received.length} samples`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const sink of this.sinks) sink.stop();
    this.pc.close();
  }

  private pump(): void {
    const samples = new Int16Array(CHUNK);
    if (this.frequency > 0) {
      for (let i = 0; i < CHUNK; i++) {
        samples[i] = 8000 * Math.sin(this.phase);
        this.phase += (2 * Math.PI * this.frequency) / RATE;
      }
    }
    this.source.onData({ samples, sampleRate: RATE, bitsPerSample: 16, channelCount: 1, numberOfFrames: CHUNK });
  }
}
