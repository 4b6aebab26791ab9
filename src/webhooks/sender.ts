import { Agent, errors } from 'undici';

/** How one attempt ended: a 2xx, or why not (with the receiver's Retry-After, if any). */
export type Outcome = { ok: true; status: number } | { ok: false; status: number | null; error: string; retryAfter?: string };

/** undici's codes for an attempt that ran out of time: connecting, waiting for the headers, or between body chunks. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * Makes delivery attempts: one signed POST of an entry's exact payload per call, over a pool of
 * keep-alive connections as large as the dispatcher's concurrency.
 *
 * An attempt's time limit is the agent's own (connect, headers and body timeouts), and a shutdown
 * destroys the agent, which fails every attempt in flight: no AbortController, signal listener and
 * timer per attempt, which cost more than the signing of a delivery.
 */
export class WebhookSender {
  private readonly agent: Agent;
  private readonly origin: string;
  private readonly path: string;

  constructor(
    url: string,
    private readonly options: { timeoutMs: number; connections: number },
  ) {
    const target = new URL(url);
    this.origin = target.origin;
    this.path = `${target.pathname}${target.search}`;
    this.agent = new Agent({
      connections: options.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: { timeout: options.timeoutMs },
    });
  }

  /** POSTs `payload` signed with `token`; the attempt fails once the receiver is silent for the time limit, or on abortAll(). */
  async send(payload: string, token: string): Promise<Outcome> {
    try {
      const res = await this.agent.request({
        origin: this.origin,
        path: this.path,
        method: 'POST',
        body: payload,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'user-agent': 'legway-webhook',
        },
      });
      // The receiver's answer body is not ours to keep; drain it so the connection is reused.
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, status: res.statusCode };
      const retryAfter = res.headers['retry-after'];
      return {
        ok: false,
        status: res.statusCode,
        error: `HTTP ${res.statusCode}`,
        ...(typeof retryAfter === 'string' && { retryAfter }),
      };
    } catch (err) {
      const timedOut = err instanceof errors.UndiciError && TIMEOUT_CODES.has(err.code);
      const reason = timedOut ? `no answer within ${this.options.timeoutMs} ms` : err instanceof Error ? err.message : 'request failed';
      return { ok: false, status: null, error: reason.slice(0, 300) };
    }
  }

  /** Fails every attempt in flight and closes the connections (a shutdown); resolves once they are closed. */
  abortAll(): Promise<void> {
    return this.agent.destroy();
  }
}
