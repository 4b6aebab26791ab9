/**
 * Hand-written SIP on raw sockets, for tests that play the far end (or a stranger) byte by byte:
 * a UDP peer and a TCP peer that record what they receive, a request builder, and header readers.
 * Peers bind to a chosen loopback address: 127.0.0.2 is "another host" on Linux.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { waitUntil } from './resources.js';

let sequence = 0;

export interface RequestOptions {
  via?: string;
  headers?: Record<string, string>;
  body?: string;
  requestUri?: string;
}

/** A request with the header fields every request needs; `headers` replace or add lines (an empty value removes one). */
export function request(method: string, options: RequestOptions = {}): string {
  sequence++;
  const body = options.body ?? '';
  const headers: Record<string, string> = {
    Via: options.via ?? `SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-raw-${sequence};rport`,
    From: `<sip:tester@127.0.0.1>;tag=raw${sequence}`,
    To: '<sip:gateway@127.0.0.1>',
    'Call-ID': `raw-${sequence}@test`,
    CSeq: `1 ${method}`,
    'Max-Forwards': '70',
    ...(method === 'INVITE' ? { Contact: '<sip:tester@127.0.0.1:5999>' } : {}),
    'Content-Length': String(Buffer.byteLength(body)),
    ...options.headers,
  };
  const lines = Object.entries(headers)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}`);
  return `${method} ${options.requestUri ?? 'sip:gateway@127.0.0.1'} SIP/2.0\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A fresh branch for a hand-written Via. */
export function branch(): string {
  sequence++;
  return `z9hG4bK-b${sequence}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A UDP peer that records what it receives. */
export class UdpPeer {
  readonly received: string[] = [];
  private constructor(readonly socket: UdpSocket) {
    socket.on('message', (data) => this.received.push(data.toString('utf8')));
  }

  static async open(address = '127.0.0.1', port = 0): Promise<UdpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port }, () => resolve());
    });
    return new UdpPeer(socket);
  }

  get address(): string {
    return this.socket.address().address;
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(port: number, text: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(text, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  }

  async next(count = 1, timeoutMs = 2000): Promise<string[]> {
    await waitUntil(() => this.received.length >= count, { timeoutMs, intervalMs: 10, what: `${count} UDP message(s)` });
    return this.received.slice(0, count);
  }

  /** The first message received that `match` accepts, waiting for it. */
  async waitFor(match: (message: string) => boolean, what: string, timeoutMs = 3000): Promise<string> {
    await waitUntil(() => this.received.some(match), { timeoutMs, intervalMs: 10, what });
    return this.received.find(match)!;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A TCP client that records the bytes it receives and whether the server closed. */
export class TcpPeer {
  data = '';
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => (this.data += chunk.toString('utf8')));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async open(port: number, localAddress = '127.0.0.1'): Promise<TcpPeer> {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return new TcpPeer(socket);
  }

  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  /** Status lines received so far. */
  get statuses(): string[] {
    return this.data.split('\r\n').filter((line) => line.startsWith('SIP/2.0 '));
  }

  /** The whole messages received so far, cut at each head's Content-Length. */
  get messages(): string[] {
    const messages: string[] = [];
    let rest = this.data.replace(/^(\r\n)+/, '');
    for (;;) {
      const end = rest.indexOf('\r\n\r\n');
      if (end < 0) break;
      const length = Number(/\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0);
      const total = end + 4 + length;
      if (Buffer.byteLength(rest) < total) break;
      messages.push(rest.slice(0, total));
      rest = rest.slice(total).replace(/^(\r\n)+/, '');
    }
    return messages;
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }
}

export function statusLine(message: string | undefined): string {
  return message?.split('\r\n')[0] ?? '';
}

export function statusOf(message: string | undefined): number {
  return Number(/^SIP\/2\.0 (\d{3})/.exec(message ?? '')?.[1] ?? 0);
}

/** The first value of a header in message text (full name, or compact form). */
export function header(message: string | undefined, name: string, compact?: string): string | undefined {
  const names = [name.toLowerCase(), ...(compact ? [compact.toLowerCase()] : [])];
  const line = message?.split('\r\n').find((l) => names.some((n) => l.toLowerCase().startsWith(`${n}:`)));
  return line?.slice(line.indexOf(':') + 1).trim();
}

export const quietly = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
