/**
 * The sending half of a SIP leg's RTP endpoint: the bridge's 20 ms ticks (the 48 kHz mix, a mix
 * already at the codec's rate, or a tick already encoded) and RFC 4733 keys, which ride on the
 * bridge's ticks while they come and on a clock of this output's own while they do not (a leg
 * outside any bridge, a bridge that stopped). Packets go to the endpoint's sink, which knows the
 * destination, the direction and the socket.
 */
import { performance } from 'node:perf_hooks';
import { FRAME_MS } from '../audio/frame.js';
import { AudioSendStream, type DtmfTiming, type PacketSink } from './audioSendStream.js';
import type { RtpCodecConfig } from './rtpEndpoint.js';

/** Audio and keys out of one RTP endpoint, one tick at a time. */
export class RtpOutput {
  private readonly stream: AudioSendStream;
  private lastTickAt = -Infinity;
  private dtmfClock: NodeJS.Timeout | undefined;
  private dtmfWaiters: (() => void)[] = [];

  constructor(
    timestamp: number,
    dtmfTiming: DtmfTiming | undefined,
    private readonly sink: PacketSink,
  ) {
    this.stream = new AudioSendStream(timestamp, dtmfTiming);
  }

  /** Applies the negotiated codec and packet time. */
  configure(config: RtpCodecConfig): void {
    this.stream.configure(config);
  }

  /** The next audio packet starts a talkspurt (sending resumes after a pause). */
  restartTalkspurt(): void {
    this.stream.restartTalkspurt();
  }

  /** One tick of the bridge's 48 kHz mix. */
  tick(pcm48: Int16Array): void {
    this.ticked();
    this.stream.tick(pcm48, this.sink);
    this.settleDtmf();
  }

  /** One tick of a mix at the codec's rate. */
  tickNative(pcm: Int16Array): void {
    this.ticked();
    this.stream.tickNative(pcm, this.sink);
    this.settleDtmf();
  }

  /** One tick already encoded in the codec (G.711, G.722). */
  tickEncoded(payload: Uint8Array): void {
    this.ticked();
    this.stream.tickEncoded(payload, this.sink);
    this.settleDtmf();
  }

  /** Queues keys (checked by the caller) after any already queued; settles once they are sent or the output closes. */
  sendDtmf(digits: string): Promise<void> {
    this.stream.enqueueDtmf(digits);
    const done = new Promise<void>((resolve) => this.dtmfWaiters.push(resolve));
    // Events are timed by the bridge's frames while they come; this clock stands in when they do not.
    this.dtmfClock ??= setInterval(() => {
      if (performance.now() - this.lastTickAt < 1.5 * FRAME_MS) return;
      this.stream.tick(undefined, this.sink);
      this.settleDtmf();
    }, FRAME_MS);
    return done;
  }

  /** Stops the clock and settles what waits for keys; harmless twice. */
  close(): void {
    this.stopDtmfClock();
  }

  private ticked(): void {
    this.lastTickAt = performance.now();
  }

  private settleDtmf(): void {
    if (!this.stream.dtmfPending) this.stopDtmfClock();
  }

  private stopDtmfClock(): void {
    if (this.dtmfClock) clearInterval(this.dtmfClock);
    this.dtmfClock = undefined;
    const waiters = this.dtmfWaiters;
    this.dtmfWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
