import wrtc from '@roamhq/wrtc';
import type { Socket } from 'socket.io-client';
import { request } from './gateway.js';

const { RTCPeerConnection, nonstandard } = wrtc;
const RATE = 48_000;
const CHUNK = 480; // 10 ms, what RTCAudioSource takes
const VIDEO = { width: 160, height: 120 };

/** A received video frame's size and mean luma (I420: the first width × height bytes). */
export interface ReceivedFrame {
  width: number;
  height: number;
  luma: number;
}

/**
 * A real WebRTC peer (libwebrtc through @roamhq/wrtc) that joins a conversation's media over the
 * socket API, sends a sine tone (or silence) and keeps the audio it receives. With `video`, it
 * also sends flat frames of a chosen brightness and keeps the frames it receives; it answers the
 * gateway's renegotiation offers as a browser does.
 */
export class TestPeer {
  readonly pc = new RTCPeerConnection();
  readonly received: number[] = [];
  readonly frames: ReceivedFrame[] = [];
  /** Answers of the gateway to this peer's `rtc:answer` requests, in order. */
  readonly answerAcks: any[] = [];
  legId = '';
  private videoSource: InstanceType<typeof nonstandard.RTCVideoSource> | undefined;
  private videoTimer: NodeJS.Timeout | undefined;
  private brightness = 200;
  private readonly source = new nonstandard.RTCAudioSource();
  private timer: NodeJS.Timeout | undefined;
  private phase = 0;
  private frequency = 0;
  private sinks: { stop(): void }[] = [];

  constructor(
    private socket: Socket,
    options: { video?: boolean } = {},
  ) {
    this.pc.addTrack(this.source.createTrack());
    if (options.video) {
      const video = new nonstandard.RTCVideoSource();
      this.videoSource = video;
      this.pc.addTrack(video.createTrack());
      this.videoTimer = setInterval(() => this.pumpVideo(), 66);
    }
    this.pc.ontrack = (e: { track: { kind: string } }) => {
      if (e.track.kind === 'video') {
        const sink = new nonstandard.RTCVideoSink(e.track) as unknown as { onframe: unknown; stop(): void };
        sink.onframe = ({ frame }: { frame: { width: number; height: number; data: Uint8Array } }) => {
          const pixels = frame.width * frame.height;
          let sum = 0;
          for (let i = 0; i < pixels; i += 7) sum += frame.data[i]!;
          this.frames.push({ width: frame.width, height: frame.height, luma: sum / Math.ceil(pixels / 7) });
        };
        this.sinks.push(sink);
        return;
      }
      const sink = new nonstandard.RTCAudioSink(e.track) as unknown as { ondata: unknown; stop(): void };
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

  /** Makes the local offer with every candidate gathered, as `rtc:new` carries it. */
  async offer(): Promise<{ type: 'offer'; sdp: string }> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    while (this.pc.iceGatheringState !== 'complete') await new Promise((r) => setTimeout(r, 10));
    return { type: 'offer', sdp: this.pc.localDescription!.sdp };
  }

  /** Sets the brightness (luma 16–235) of the video frames the peer sends. */
  videoBrightness(luma: number): void {
    this.brightness = luma;
  }

  /** Resolves once `count` more video frames have been received. */
  async receiveFrames(count: number, timeoutMs = 15_000): Promise<ReceivedFrame[]> {
    const start = this.frames.length;
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < start + count) {
      if (Date.now() > deadline) throw new Error(`peer received only ${String(this.frames.length - start)} of ${String(count)} video frames`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.frames.slice(start);
  }

  /** Offers, sends `rtc:new`, applies the answer; returns the ack. */
  async connect(conversationId: string): Promise<any> {
    const offer = await this.offer();
    const ack = await request(this.socket, 'rtc:new', { conversation_id: conversationId, offer });
    if (!ack.ok) return ack;
    this.legId = ack.leg_id;
    await this.pc.setRemoteDescription(ack.answer);
    this.listenForOffers();
    return ack;
  }

  /** Carries on over another socket (the client reconnected): offers and answers go through it. */
  useSocket(socket: Socket): void {
    this.socket = socket;
    this.listenForOffers();
  }

  /** Answers the gateway's renegotiation offers (a pushed conversation event of the same name has no `offer`). */
  private listenForOffers(): void {
    this.socket.on('rtc:offer', (payload: any) => {
      if (payload?.offer === undefined || payload.leg_id !== this.legId) return;
      void this.answerOffer(payload.offer);
    });
  }

  /**
   * Waits until the last half second of received audio passes `check` (a tone present, or gone),
   * looking again every 100 ms: on a loaded machine a single window can dip under a threshold.
   */
  async until(check: (lastHalfSecond: number[]) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.receiveMore(100, timeoutMs);
      if (check(this.lastReceived(500))) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    }
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

  private async answerOffer(offer: { type: 'offer'; sdp: string }): Promise<void> {
    await this.pc.setRemoteDescription(offer);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    const ack = await request(this.socket, 'rtc:answer', { leg_id: this.legId, answer: { type: 'answer', sdp: this.pc.localDescription!.sdp } });
    this.answerAcks.push(ack);
  }

  private pumpVideo(): void {
    const { width, height } = VIDEO;
    const data = new Uint8Array((width * height * 3) / 2);
    data.fill(this.brightness, 0, width * height);
    data.fill(128, width * height);
    this.videoSource?.onFrame({ width, height, data });
  }

  close(): void {
    clearInterval(this.timer);
    clearInterval(this.videoTimer);
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
