import type { Socket } from 'node:net';
import { StreamFramer } from './framing.js';
import { normalizeAddress } from './via.js';

/** One TCP connection, accepted or opened, with its own framer and message deadline. */
export class TcpConnection {
  readonly framer: StreamFramer;
  readonly remoteAddress: string;
  readonly remotePort: number;
  private closed = false;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket,
    remote: { address: string; port: number },
    maxMessageBytes: number,
    /** Whether we opened it (to send a request of ours), rather than accepted it. */
    readonly outbound: boolean,
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

  /** Whether a message deadline is running. */
  get awaitingMessage(): boolean {
    return this.deadline !== undefined;
  }

  /** Starts the deadline for the message under way, unless one runs already. */
  armDeadline(ms: number, onExpiry: () => void): void {
    if (this.deadline || this.closed) return;
    this.deadline = setTimeout(onExpiry, ms);
    this.deadline.unref();
  }

  disarmDeadline(): void {
    clearTimeout(this.deadline);
    this.deadline = undefined;
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
    this.disarmDeadline();
    this.socket.end();
    // A peer that never reads would hold the socket half-open: a short grace, then gone.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.disarmDeadline();
    this.socket.destroy();
  }
}

export function connectionKey(address: string, port: number): string {
  return `${normalizeAddress(address)}|${port}`;
}
