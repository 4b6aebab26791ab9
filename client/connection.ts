import { io, type Socket } from 'socket.io-client';
import { Emitter } from './emitter.js';
import { LegwayClientError, type ErrorCode } from './errors.js';

/** A token, or a function that fetches a fresh one (called at every connection attempt). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ConnectionOptions {
  /** The gateway's origin, e.g. `https://gw.example.com`; default: the page's own origin. */
  url?: string;
  token: TokenSource;
  /** How long a request waits for the gateway's acknowledgement (default 10 s). */
  requestTimeoutMs?: number;
  /** First and longest delay between reconnection attempts (defaults 500 ms and 5 s). */
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
}

/** `connecting` (first attempt), `connected`, `reconnecting` (lost, retrying), `closed` (given up or closed). */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface ConnectionChange {
  state: ConnectionState;
  /** Why the connection failed or closed, when it did. */
  error?: LegwayClientError;
}

type Ack = { ok: true; [key: string]: unknown } | { ok: false; error: { code: ErrorCode; message: string } };

const DEFAULT_TIMEOUT_MS = 10_000;

/** Resolves the page's own origin when no URL is given. */
function defaultOrigin(): string {
  const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
  if (!origin) throw new LegwayClientError('ConnectFailed', 'no gateway url given and no page origin to default to');
  return origin;
}

async function resolveToken(source: TokenSource): Promise<string> {
  return typeof source === 'string' ? source : await source();
}

/**
 * One socket.io connection to a gateway namespace: token handshake, automatic reconnection,
 * requests with acknowledgements turned into promises, connection state for the page to show.
 */
export class Connection extends Emitter<{ change: (change: ConnectionChange) => void; connect: (first: boolean) => void }> {
  readonly socket: Socket;
  private current: ConnectionState = 'connecting';
  private everConnected = false;
  private readonly timeoutMs: number;

  constructor(namespace: string, options: ConnectionOptions) {
    super();
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const base = (options.url ?? defaultOrigin()).replace(/\/+$/, '');
    this.socket = io(`${base}${namespace}`, {
      // A function, so that every reconnection presents a token fetched now (short-lived tokens).
      auth: (cb) => {
        resolveToken(options.token).then(
          (token) => cb({ token }),
          () => cb({ token: '' }),
        );
      },
      transports: ['websocket'],
      reconnectionDelay: options.reconnectDelayMs ?? 500,
      reconnectionDelayMax: options.reconnectDelayMaxMs ?? 5000,
      autoConnect: false,
      forceNew: true,
    });
    this.socket.on('connect', () => {
      const first = !this.everConnected;
      this.everConnected = true;
      this.set({ state: 'connected' });
      this.emit('connect', first);
    });
    this.socket.on('disconnect', (reason) => {
      // The client's own close() ends it; anything else (server restart, network) is retried.
      if (reason === 'io client disconnect') {
        this.set({ state: 'closed' });
        return;
      }
      this.set({ state: 'reconnecting', error: new LegwayClientError('Disconnected', `connection lost (${reason})`) });
      // A gateway that shuts down (a restart, a deploy) disconnects its clients itself, after which
      // socket.io does not retry on its own: connect again, and socket.io's backoff takes over.
      if (reason === 'io server disconnect') this.socket.connect();
    });
    this.socket.on('connect_error', (err) => {
      // socket.io retries by itself while `active`; a refused handshake (bad token) is final.
      if (this.socket.active) {
        this.set({ state: this.everConnected ? 'reconnecting' : 'connecting', error: new LegwayClientError('ConnectFailed', err.message) });
      } else {
        this.set({ state: 'closed', error: new LegwayClientError('Unauthorized', err.message) });
      }
    });
  }

  /** Connects; resolves once connected, rejects if the gateway refuses the handshake. */
  async open(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const offChange = this.on('change', (change) => {
        if (change.state === 'connected') {
          offChange();
          resolve();
        } else if (change.state === 'closed') {
          offChange();
          reject(change.error ?? new LegwayClientError('ConnectFailed', 'connection closed'));
        }
      });
      this.socket.connect();
    });
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** Sends a request and waits for its acknowledgement; a refusal throws the gateway's error code. */
  async request(name: string, payload?: unknown): Promise<Record<string, unknown>> {
    if (!this.socket.connected) throw new LegwayClientError('Disconnected', `not connected; ${name} not sent`);
    let ack: Ack;
    try {
      ack = (await this.socket.timeout(this.timeoutMs).emitWithAck(name, payload)) as Ack;
    } catch {
      throw new LegwayClientError('Timeout', `${name}: no answer from the gateway in ${this.timeoutMs} ms`);
    }
    if (!ack.ok) throw new LegwayClientError(ack.error.code, ack.error.message);
    return ack;
  }

  /** Disconnects for good (no reconnection). Idempotent. */
  close(): void {
    this.socket.disconnect();
    this.set({ state: 'closed' });
  }

  private set(change: ConnectionChange): void {
    if (change.state === this.current && change.state !== 'reconnecting') return;
    if (this.current === 'closed' && change.state === 'closed') return;
    this.current = change.state;
    this.emit('change', change);
  }
}
