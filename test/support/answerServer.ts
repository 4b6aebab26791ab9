/**
 * A local `answer_url` for SIP routing tests: a real HTTP server on 127.0.0.1, port 0, that keeps
 * each POST's JSON body and answers as the test says — an NCCO, an error, after a delay, or never.
 * Every answer closes its connection, so the gateway keeps no idle sockets to it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** What the gateway POSTs: `{ from, to, call_id, leg_id }`. */
export interface AnswerRequest {
  from: string;
  to: string;
  call_id: string;
  leg_id: string;
}

/** How to answer one request: a status and JSON body, after `delayMs`; `undefined` never answers. */
export type AnswerReply = { status?: number; body?: unknown; delayMs?: number } | undefined;

export class AnswerServer {
  readonly requests: AnswerRequest[] = [];
  /** Decides each answer; a 500 by default. */
  reply: (request: AnswerRequest) => AnswerReply = () => ({ status: 500 });
  private readonly pending = new Set<NodeJS.Timeout>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<AnswerServer> {
    const holder: { self?: AnswerServer } = {};
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => holder.self?.answer(text, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    holder.self = new AnswerServer(server);
    return holder.self;
  }

  get url(): string {
    const address = this.server.address();
    return `http://127.0.0.1:${String(typeof address === 'object' && address ? address.port : 0)}/answer`;
  }

  close(): Promise<void> {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private answer(text: string, res: ServerResponse): void {
    let request: AnswerRequest;
    try {
      request = JSON.parse(text) as AnswerRequest;
    } catch {
      res.writeHead(400, { connection: 'close' }).end();
      return;
    }
    this.requests.push(request);
    const reply = this.reply(request);
    if (reply === undefined) return; // never answers: the gateway gives up (or is stopped) first
    const send = (): void => {
      const status = reply.status ?? 200;
      if (reply.body === undefined) res.writeHead(status, { connection: 'close' }).end();
      else
        res
          .writeHead(status, { 'content-type': 'application/json', connection: 'close' })
          .end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    };
    if (!reply.delayMs) return send();
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      send();
    }, reply.delayMs);
    this.pending.add(timer);
  }
}
