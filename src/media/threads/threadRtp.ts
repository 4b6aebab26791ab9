import { TypedEmitter } from '../../lib/typedEmitter.js';
import { fail } from '../../domain/errors.js';
import type { DtmfPress } from '../rtp/dtmf.js';
import { checkCodecConfig, checkDirection, checkRemote } from '../rtp/rtpChecks.js';
import type { MediaDirection, RtpCodecConfig, RtpStats } from '../rtp/rtpEndpoint.js';
import { emptyRtpStats } from '../rtp/rtpStats.js';
import type { SipLegAudio, SipRtp, SipRtpEvents } from '../rtp/sipRtp.js';
import type { UdpAddress } from '../rtp/udpAddress.js';
import type { MediaThread, MediaThreads } from './mediaThreads.js';
import type { FromThread, RtpOpenOptions, RtpSnapshot } from './protocol.js';

let nextId = 1;

/** A SIP leg's audio in a bridge on a media thread: a reference the bridge proxy sends on, and the latest playout counters. */
export class ThreadSipAudio implements SipLegAudio {
  constructor(readonly rtp: ThreadRtp) {}

  get playoutStats(): SipLegAudio['playoutStats'] {
    return this.rtp.latest?.playout;
  }

  close(): void {
    // Freed on the thread with its endpoint.
  }
}

/**
 * A SIP leg's RTP endpoint that runs on a media thread: what the call does to it goes there as
 * messages (checked here first, so errors stay synchronous and coded), what it reports comes back
 * as events, and its statistics are the thread's latest snapshot.
 */
export class ThreadRtp implements SipRtp {
  private readonly emitter: TypedEmitter<SipRtpEvents>;
  private config: RtpCodecConfig | undefined;
  private closing: Promise<void> | undefined;
  private readonly stopWatching: () => void;
  port = 0;

  private constructor(
    readonly id: string,
    private readonly threads: MediaThreads,
    readonly thread: MediaThread,
    public conversationId: string,
    private readonly ip: string,
    onListenerError: (err: unknown) => void,
  ) {
    this.emitter = new TypedEmitter<SipRtpEvents>(onListenerError);
    thread.listen(this.id, (m) => this.receive(m));
    this.stopWatching = threads.onDeath(thread, () => {
      this.previous = thread.snapshot.rtp[this.id];
      this.closing ??= Promise.resolve();
      this.emitter.emit('failed', 'media thread died');
    });
  }

  /** Opens the endpoint on the conversation's media thread; `Unavailable` when no port is free. */
  static async open(threads: MediaThreads, conversationId: string, options: RtpOpenOptions, onListenerError: (err: unknown) => void): Promise<ThreadRtp> {
    const thread = threads.acquire(conversationId);
    const spare = thread.spares.shift();
    if (spare) {
      // Opened ahead with the same options: only the call's signalling source is its own.
      const rtp = new ThreadRtp(spare.id, threads, thread, conversationId, options.ip, onListenerError);
      rtp.port = spare.port;
      thread.send({ t: 'rtpUse', id: spare.id, signallingSource: options.signallingSource });
      void threads.refill(thread);
      return rtp;
    }
    const rtp = new ThreadRtp(`rtp-${String(nextId++)}`, threads, thread, conversationId, options.ip, onListenerError);
    try {
      const reply = await thread.request({ t: 'rtpOpen', id: rtp.id, options });
      rtp.port = reply.port ?? 0;
      return rtp;
    } catch (err) {
      rtp.forget();
      throw err;
    }
  }

  get codec(): RtpCodecConfig | undefined {
    return this.config;
  }

  /** The endpoint's figures as last reported (its final ones once closed). */
  get latest(): RtpSnapshot | undefined {
    if (this.final) return this.final;
    return this.thread.snapshot.rtp[this.id] ?? this.previous;
  }

  get stats(): RtpStats {
    return this.latest?.stats ?? { ...emptyRtpStats(), lost: 0, jitterMs: 0, droppedWrongSource: 0, droppedProbation: 0, learnedCount: 0, takeovers: 0, rtcpOut: 0, learnedSource: undefined, remote: undefined };
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  configure(config: RtpCodecConfig): void {
    checkCodecConfig(config);
    this.config = { ...config };
    this.thread.send({ t: 'rtpConfigure', id: this.id, config: this.config });
  }

  setRemote(remote: UdpAddress & { rtcpPort?: number | undefined }): void {
    checkRemote(this.ip, remote);
    this.thread.send({ t: 'rtpRemote', id: this.id, remote: { address: remote.address, port: remote.port, rtcpPort: remote.rtcpPort } });
  }

  hold(direction: MediaDirection): void {
    checkDirection(direction);
    this.thread.send({ t: 'rtpHold', id: this.id, direction });
  }

  sendDtmf(digits: string): Promise<void> {
    if (this.closed) throw fail('InvalidState', 'the RTP endpoint is closed');
    if (this.config?.telephoneEventPt === undefined) throw fail('InvalidState', 'telephone-event was not negotiated');
    return this.thread.request({ t: 'rtpDtmf', id: this.id, digits }).then(() => undefined);
  }

  on<E extends keyof SipRtpEvents>(event: E, listener: (...args: SipRtpEvents[E]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  legAudio(onInbandDtmf?: (press: DtmfPress) => void): SipLegAudio {
    this.inband = onInbandDtmf;
    this.thread.send({ t: 'rtpAudio', id: this.id, inband: onInbandDtmf !== undefined });
    return new ThreadSipAudio(this);
  }

  close(): Promise<void> {
    this.closing ??= this.thread
      .request({ t: 'rtpClose', id: this.id })
      .then(
        (reply) => {
          this.final = reply.final;
        },
        () => undefined,
      )
      .then(() => this.forget());
    return this.closing;
  }

  /** The leg moved to another conversation on the same thread: its place is counted there now. */
  moved(conversationId: string): void {
    this.threads.release(this.conversationId);
    this.threads.acquire(conversationId, this.thread);
    this.conversationId = conversationId;
  }

  private inband: ((press: DtmfPress) => void) | undefined;
  private final: RtpSnapshot | undefined;
  /** The last snapshot that had it: kept when the thread dies. */
  private previous: RtpSnapshot | undefined;

  private forget(): void {
    this.stopWatching();
    this.thread.unlisten(this.id);
    this.threads.release(this.conversationId);
  }

  private receive(m: FromThread): void {
    if (m.t === 'rtpDtmf') {
      if (m.method === 'inband') this.inband?.(m.press);
      else this.emitter.emit('dtmf', { ...m.press, method: 'rfc4733' });
    } else if (m.t === 'rtpInactive') {
      this.emitter.emit('inactive', { idleMs: m.idleMs });
    }
  }
}
