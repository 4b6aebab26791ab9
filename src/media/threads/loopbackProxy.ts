import type { types as ms } from 'mediasoup';
import type { MediaThread, MediaThreads } from './mediaThreads.js';
import type { LoopbackAudio } from './protocol.js';

const LOOPBACK = '127.0.0.1';
let nextId = 1;

/**
 * A WebRTC leg's LoopbackRtp whose Node side is a socket on a media thread: the main thread makes
 * the PlainTransport (mediasoup is driven from here) and connects it to the port the thread bound;
 * the audio itself goes between the transport and the thread only.
 */
export class LoopbackProxy {
  private audio: LoopbackAudio | undefined;
  private secured = false;
  private closed = false;
  private stopWatching: () => void = () => undefined;
  private onDied: (() => void) | undefined;

  private constructor(
    readonly id: string,
    private readonly threads: MediaThreads,
    public thread: MediaThread,
    public conversationId: string,
    readonly transport: ms.PlainTransport,
    /** The thread's socket port (it keeps it when the leg moves to another thread). */
    readonly localPort: number,
  ) {
    this.watch();
    transport.observer.once('close', () => this.close());
  }

  /** Binds the thread's socket and connects a new PlainTransport on `router` to it; on failure nothing is left open. */
  static async open(threads: MediaThreads, conversationId: string, router: ms.Router, portRange: { min: number; max: number }): Promise<LoopbackProxy> {
    const thread = threads.acquire(conversationId);
    const id = `loop-${String(nextId++)}`;
    // The thread's socket and the worker's transport are made at once; the transport is then pointed at the socket.
    const [bound, made] = await Promise.allSettled([
      thread.request({ t: 'loopOpen', id }),
      router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: LOOPBACK, portRange }, rtcpMux: true, comedia: false }),
    ]);
    const transport = made.status === 'fulfilled' ? made.value : undefined;
    try {
      if (bound.status === 'rejected') throw bound.reason;
      if (made.status === 'rejected') throw made.reason;
      const port = bound.value.port ?? 0;
      await made.value.connect({ ip: LOOPBACK, port });
      return new LoopbackProxy(id, threads, thread, conversationId, made.value, port);
    } catch (err) {
      if (bound.status === 'fulfilled') await thread.request({ t: 'loopClose', id }).catch(() => undefined);
      threads.release(conversationId);
      if (transport && !transport.closed) transport.close();
      throw err;
    }
  }

  /** Starts the audio both ways (the transport's consumer of the peer's audio and producer of the mix exist now). */
  connectAudio(audio: Omit<LoopbackAudio, 'remotePort'>): void {
    this.audio = { ...audio, remotePort: this.transport.tuple.localPort };
    this.thread.send({ t: 'loopConnect', id: this.id, audio: this.audio });
  }

  /** DTLS to the peer is up (or down): the mix is sent only while it is. */
  setSecured(on: boolean): void {
    this.secured = on;
    this.thread.send({ t: 'loopSecured', id: this.id, on });
  }

  /** Called once if the media thread dies (the leg must end). */
  onThreadDeath(listener: () => void): void {
    this.onDied = listener;
  }

  /**
   * Follows its leg to another conversation. On the same thread (or to a conversation with no
   * media yet) only the count moves; to another thread the socket is closed here and bound again
   * on the same port there, and the mix's stream carries on, so the transport sees no change.
   */
  async moveTo(conversationId: string): Promise<void> {
    const target = this.threads.threadOf(conversationId);
    this.threads.release(this.conversationId);
    this.conversationId = conversationId;
    if (target === undefined || target === this.thread) {
      this.threads.acquire(conversationId, this.thread);
      return;
    }
    const to = this.threads.acquire(conversationId);
    const { state } = await this.thread.request({ t: 'loopClose', id: this.id });
    this.stopWatching();
    this.thread = to;
    this.watch();
    await to.request({ t: 'loopOpen', id: this.id, port: this.localPort });
    if (this.audio) this.thread.send({ t: 'loopConnect', id: this.id, audio: { ...this.audio, ...(state && { mix: state }) } });
    this.thread.send({ t: 'loopSecured', id: this.id, on: this.secured });
  }

  /** Frees the thread's socket and the transport; harmless twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopWatching();
    this.thread.request({ t: 'loopClose', id: this.id }).catch(() => undefined);
    this.threads.release(this.conversationId);
    if (!this.transport.closed) this.transport.close();
  }

  private watch(): void {
    this.stopWatching = this.threads.onDeath(this.thread, () => {
      if (!this.closed) this.onDied?.();
    });
  }
}
