import { connect, type Socket } from 'node:net';
import type { Frame } from './framing.js';
import { connectionKey, TcpConnection } from './tcpConnection.js';
import { normalizeAddress } from './via.js';

export { TcpConnection, connectionKey } from './tcpConnection.js';

/** Connections one remote IP address may hold open to us at once (a trunk needs a handful; ports vary, the IP does not). */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 32;
/** Connections we open ourselves at once (each to send a request of ours: outbound calls and their dialogs). */
export const DEFAULT_MAX_OUTBOUND_CONNECTIONS = 256;
/** How long a message may take to arrive whole, from its first byte (or, on an accepted connection, from the connection). */
export const DEFAULT_MESSAGE_DEADLINE_MS = 10_000;

export interface TcpConnectionsOptions {
  readonly maxMessageBytes: number;
  /** A connection with no traffic for this long is closed. */
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxConnectionsPerIp?: number;
  readonly maxOutboundConnections?: number;
  readonly messageDeadlineMs?: number;
  readonly onFrame: (frame: Frame, connection: TcpConnection) => void;
  readonly onError: (err: Error, connection: TcpConnection) => void;
  /** A connection was refused or closed for what it did: over its IP's limit, or too slow with a message. */
  readonly onRefused?: (reason: 'per-ip-limit' | 'deadline', address: string) => void;
}

/**
 * The table of live TCP connections, by remote address and port: reuse, connect, idle close, and
 * the limits that keep one host from holding them all — a cap per remote IP on accepted
 * connections, a cap on those we open, and a deadline for each message to arrive whole (a peer
 * that trickles a head, or never finishes one, loses its connection).
 */
export class TcpConnections {
  private readonly byKey = new Map<string, TcpConnection>();
  private readonly connecting = new Map<string, Promise<TcpConnection>>();
  private readonly acceptedPerIp = new Map<string, number>();
  private outboundCount = 0;
  private closing = false;
  private readonly maxPerIp: number;
  private readonly maxOutbound: number;
  private readonly deadlineMs: number;

  constructor(private readonly options: TcpConnectionsOptions) {
    this.maxPerIp = options.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP;
    this.maxOutbound = options.maxOutboundConnections ?? DEFAULT_MAX_OUTBOUND_CONNECTIONS;
    this.deadlineMs = options.messageDeadlineMs ?? DEFAULT_MESSAGE_DEADLINE_MS;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The open connection to (or from) an address and port, if any. */
  get(address: string, port: number): TcpConnection | undefined {
    const connection = this.byKey.get(connectionKey(address, port));
    return connection?.open ? connection : undefined;
  }

  /** Takes in a connection the listener accepted, unless its IP holds its share already. */
  adopt(socket: Socket): TcpConnection | undefined {
    const { remoteAddress, remotePort } = socket;
    if (this.closing || remoteAddress === undefined || remotePort === undefined) {
      socket.destroy();
      return undefined;
    }
    const ip = normalizeAddress(remoteAddress);
    const held = this.acceptedPerIp.get(ip) ?? 0;
    if (held >= this.maxPerIp) {
      socket.destroy();
      this.options.onRefused?.('per-ip-limit', ip);
      return undefined;
    }
    this.acceptedPerIp.set(ip, held + 1);
    const connection = this.track(new TcpConnection(socket, { address: remoteAddress, port: remotePort }, this.options.maxMessageBytes, false));
    // A client connects to send: its first message is due from the connection on.
    this.armDeadline(connection);
    return connection;
  }

  /**
   * An open connection to the address and port, for a request of ours: an existing one, one being
   * opened, or a new one while fewer than the outbound limit are open. Responses never come here.
   */
  async connectTo(address: string, port: number): Promise<TcpConnection> {
    const existing = this.get(address, port);
    if (existing) return existing;
    const key = connectionKey(address, port);
    const pending = this.connecting.get(key);
    if (pending) return pending;
    if (this.outboundCount + this.connecting.size >= this.maxOutbound) throw new Error('too many outbound TCP connections');
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
        resolve(this.track(new TcpConnection(socket, { address, port }, this.options.maxMessageBytes, true)));
      });
    });
  }

  private track(connection: TcpConnection): TcpConnection {
    const { socket } = connection;
    const key = connection.key;
    this.byKey.get(key)?.destroy();
    this.byKey.set(key, connection);
    if (connection.outbound) this.outboundCount++;
    socket.setNoDelay(true);
    socket.setTimeout(this.options.idleTimeoutMs, () => connection.end());
    socket.on('data', (chunk: Buffer) => {
      try {
        const frames = connection.framer.push(chunk);
        // Each message has its own deadline: a finished one stops it, the next one's first byte starts it anew.
        if (frames.length > 0 || !connection.framer.inMessage) connection.disarmDeadline();
        if (connection.framer.inMessage) this.armDeadline(connection);
        for (const frame of frames) this.options.onFrame(frame, connection);
      } catch (err) {
        this.options.onError(err as Error, connection);
        connection.destroy();
      }
    });
    socket.on('error', (err) => this.options.onError(err, connection));
    socket.on('close', () => {
      connection.disarmDeadline();
      if (this.byKey.get(key) === connection) this.byKey.delete(key);
      if (connection.outbound) this.outboundCount--;
      else this.release(connection.remoteAddress);
    });
    return connection;
  }

  private armDeadline(connection: TcpConnection): void {
    connection.armDeadline(this.deadlineMs, () => {
      this.options.onRefused?.('deadline', connection.remoteAddress);
      connection.destroy();
    });
  }

  private release(ip: string): void {
    const held = (this.acceptedPerIp.get(ip) ?? 1) - 1;
    if (held <= 0) this.acceptedPerIp.delete(ip);
    else this.acceptedPerIp.set(ip, held);
  }
}
