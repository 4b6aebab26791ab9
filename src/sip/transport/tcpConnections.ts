import { connect, type Socket } from 'node:net';
import { StreamFramer, type Frame } from './framing.js';
import { normalizeAddress } from './via.js';

/** One TCP connection, accepted or opened, with its own framer. */
export class TcpConnection {
  readonly framer: StreamFramer;
  readonly remoteAddress: string;
  readonly remotePort: number;
  private closed = false;

  constructor(
    readonly socket: Socket,
    remote: { address: string; port: number },
    maxMessageBytes: number,
  ) {
    this.remoteAddress = normalizeAddress(remote.address);
    this.remotePort = remote.port;
    this.framer = new StreamFramer(maxMessageBytes);
  }

  get key(): string {
    return connectionKey(this.remoteAddress, this.remotePort);
  }

  get open(): boolean {
    return !this.closed && !this.socket.destroyed && this.socket.writable;
  }

  /** Writes bytes; resolves once handed to the kernel, rejects if the connection fails first. */
  write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.open) {
        reject(new Error('connection closed'));
        return;
      }
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Sends what is queued, then closes. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    // A peer that never reads would hold the socket half-open: a short grace, then gone.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

export function connectionKey(address: string, port: number): string {
  return `${normalizeAddress(address)}|${port}`;
}

export interface TcpConnectionsOptions {
  readonly maxMessageBytes: number;
  /** A connection with no traffic for this long is closed. */
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly onFrame: (frame: Frame, connection: TcpConnection) => void;
  readonly onError: (err: Error, connection: TcpConnection) => void;
}

/** The table of live TCP connections, by remote address and port: reuse, connect, idle close. */
export class TcpConnections {
  private readonly byKey = new Map<string, TcpConnection>();
  private readonly connecting = new Map<string, Promise<TcpConnection>>();
  private closing = false;

  constructor(private readonly options: TcpConnectionsOptions) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The open connection to (or from) an address and port, if any. */
  get(address: string, port: number): TcpConnection | undefined {
    const connection = this.byKey.get(connectionKey(address, port));
    return connection?.open ? connection : undefined;
  }

  /** Takes in a connection the listener accepted. */
  adopt(socket: Socket): TcpConnection | undefined {
    const { remoteAddress, remotePort } = socket;
    if (this.closing || remoteAddress === undefined || remotePort === undefined) {
      socket.destroy();
      return undefined;
    }
    return this.track(new TcpConnection(socket, { address: remoteAddress, port: remotePort }, this.options.maxMessageBytes));
  }

  /** An open connection to the address and port: an existing one, one being opened, or a new one. */
  async connectTo(address: string, port: number): Promise<TcpConnection> {
    const existing = this.get(address, port);
    if (existing) return existing;
    const key = connectionKey(address, port);
    const pending = this.connecting.get(key);
    if (pending) return pending;
    const attempt = this.open(address, port).finally(() => this.connecting.delete(key));
    this.connecting.set(key, attempt);
    return attempt;
  }

  /** Closes every connection at once. */
  closeAll(): void {
    this.closing = true;
    for (const connection of this.byKey.values()) connection.destroy();
    this.byKey.clear();
  }

  private open(address: string, port: number): Promise<TcpConnection> {
    if (this.closing) return Promise.reject(new Error('transport closed'));
    return new Promise((resolve, reject) => {
      const socket = connect({ host: address, port });
      const timer = setTimeout(() => socket.destroy(new Error(`connect timeout to port ${port}`)), this.options.connectTimeoutMs);
      timer.unref();
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        if (this.closing) {
          socket.destroy();
          reject(new Error('transport closed'));
          return;
        }
        resolve(this.track(new TcpConnection(socket, { address, port }, this.options.maxMessageBytes)));
      });
    });
  }

  private track(connection: TcpConnection): TcpConnection {
    const { socket } = connection;
    const key = connection.key;
    this.byKey.get(key)?.destroy();
    this.byKey.set(key, connection);
    socket.setNoDelay(true);
    socket.setTimeout(this.options.idleTimeoutMs, () => connection.end());
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of connection.framer.push(chunk)) this.options.onFrame(frame, connection);
      } catch (err) {
        this.options.onError(err as Error, connection);
        connection.destroy();
      }
    });
    socket.on('error', (err) => this.options.onError(err, connection));
    socket.on('close', () => {
      if (this.byKey.get(key) === connection) this.byKey.delete(key);
    });
    return connection;
  }
}
