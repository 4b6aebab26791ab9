import type { Logger } from 'pino';
import type { Socket as IoSocket } from 'socket.io';
import type { LimitWarnings } from '../../services/limitWarnings.js';

/** An engine.io connection (what socket.io calls a socket's `conn`); one may carry several namespaces. */
export type Connection = IoSocket['conn'];

/** Lets a long send (a join's replay) wait while the connection's buffer is full. */
export interface Pacer {
  /** True while the connection holds enough unsent bytes that more should wait. */
  readonly full: boolean;
  /** Resolves once the buffer has drained well below the limit, or the connection has closed. */
  drained(): Promise<void>;
}

/** What engine.io keeps of a packet it is about to queue. */
interface QueuedPacket {
  data?: unknown;
}

/** Longest wait for a drain signal before the buffer is measured again (a transport may change). */
const RECHECK_MS = 250;

/**
 * Bytes waiting to be sent to each connection: those engine.io queues while its transport is busy
 * (its write buffer) and those the WebSocket has handed to Node but the peer has not read. A client
 * that stops reading makes them grow without bound; past the limit its connection is closed and
 * its buffers freed. It may reconnect and resume with `conversation:join` and `since`.
 */
export class SendBuffers {
  private readonly queued = new WeakMap<Connection, { bytes: number }>();

  constructor(
    private readonly maxBytes: number,
    private readonly warnings: LimitWarnings,
    private readonly logger: Logger,
  ) {}

  /** Starts counting a new connection's queued bytes (engine.io's `packetCreate` and `flush` events). */
  watch(conn: Connection): void {
    const queue = { bytes: 0 };
    let cut = false;
    this.queued.set(conn, queue);
    conn.on('packetCreate', (packet: QueuedPacket) => {
      queue.bytes += sizeOf(packet.data);
      if (cut || queue.bytes + wsBuffered(conn) <= this.maxBytes) return;
      cut = true;
      // Closed on the next tick: this runs inside a send (a broadcast may be going through its sockets).
      process.nextTick(() => this.cut(conn));
    });
    // A flush hands the whole write buffer to the transport, where `wsBuffered` counts it.
    conn.on('flush', () => {
      queue.bytes = 0;
    });
  }

  /** Bytes waiting to be sent to the connection now. */
  buffered(conn: Connection): number {
    return (this.queued.get(conn)?.bytes ?? 0) + wsBuffered(conn);
  }

  /** A pacer for long sends on the connection: full at half the limit, drained below a quarter. */
  pacer(conn: Connection): Pacer {
    const buffered = (): number => this.buffered(conn);
    const high = this.maxBytes / 2;
    const low = this.maxBytes / 4;
    return {
      get full() {
        return buffered() >= high;
      },
      async drained() {
        while (conn.readyState === 'open' && buffered() >= low) await drainSignal(conn);
      },
    };
  }

  private cut(conn: Connection): void {
    const bytes = this.buffered(conn);
    this.warnings.tripped('socket_max_buffered_bytes', conn.remoteAddress, { remote_address: conn.remoteAddress, buffered_bytes: bytes });
    this.logger.debug({ remote_address: conn.remoteAddress, buffered_bytes: bytes }, 'connection closed: it stopped reading');
    // Discards what is queued, and drops the TCP connection rather than wait for a close frame it will not read.
    conn.close(true);
    websocketOf(conn)?.terminate();
  }
}

/** The WebSocket of a connection on the websocket transport (engine.io keeps it as `socket`). */
function websocketOf(conn: Connection): { bufferedAmount: number; terminate(): void } | undefined {
  if (conn.transport.name !== 'websocket') return undefined;
  return (conn.transport as unknown as { socket?: { bufferedAmount: number; terminate(): void } }).socket;
}

function wsBuffered(conn: Connection): number {
  return websocketOf(conn)?.bufferedAmount ?? 0;
}

function sizeOf(data: unknown): number {
  if (typeof data === 'string') return data.length;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

/** Resolves at the next sign that the connection's buffer may have shrunk (or at the recheck time). */
function drainSignal(conn: Connection): Promise<void> {
  return new Promise((resolve) => {
    const transport = conn.transport;
    const done = (): void => {
      clearTimeout(timer);
      conn.off('drain', done);
      conn.off('close', done);
      transport.off('drain', done);
      resolve();
    };
    const timer = setTimeout(done, RECHECK_MS);
    timer.unref();
    conn.on('drain', done);
    conn.on('close', done);
    transport.on('drain', done);
  });
}
