import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingMessage['headers'];
  raw: string;
  event: any;
  /** The status this receiver answered (undefined while it is holding the request open). */
  status?: number;
}

/** What to answer a request with; `hang` holds it open until the receiver closes. */
export type Answer = { status: number; headers?: Record<string, string> } | { hang: true };

/** A real HTTP webhook receiver on 127.0.0.1, whose answers a test controls. */
export class WebhookReceiver {
  readonly requests: Received[] = [];
  answer: (r: Received) => Answer = () => ({ status: 200 });
  private server: Server | undefined;
  private readonly hung = new Set<ServerResponse>();
  private waiters: { test: () => boolean; resolve: () => void }[] = [];

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const received: Received = { headers: req.headers, raw, event: JSON.parse(raw) };
        this.requests.push(received);
        const answer = this.answer(received);
        if ('hang' in answer) {
          this.hung.add(res);
        } else {
          received.status = answer.status;
          res.writeHead(answer.status, answer.headers).end('{}');
        }
        this.check();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/events`;
  }

  /** Requests this receiver accepted (2xx), in arrival order. */
  accepted(): Received[] {
    return this.requests.filter((r) => r.status !== undefined && r.status >= 200 && r.status < 300);
  }

  /** Resolves once `test` holds (checked after every request). */
  until(test: () => boolean, timeoutMs = 20_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`receiver: condition not met; ${this.requests.length} requests so far`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.test()) return true;
      w.resolve();
      return false;
    });
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
