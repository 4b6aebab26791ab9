import { Agent } from 'undici';

/** How one attempt ended: a 2xx, or why not (with the receiver's Retry-After, if any). */
export type Outcome = { ok: true; status: number } | { ok: false; status: number | null; error: string; retryAfter?: string };

/** The abort reason of an attempt that ran out of time (any other reason is a shutdown). */
const TIMED_OUT = Symbol('webhook attempt timed out');

/**
 * Makes delivery attempts: one signed POST of an entry's exact payload per call, over a pool of
 * keep-alive connections as large as the dispatcher's concurrency.
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

  /** POSTs `payload` signed with `token`; `controller` aborts it (shutdown), and so does the attempt's time limit. */
  async send(payload: string, token: string, controller: AbortController): Promise<Outcome> {
    const { timeoutMs } = this.options;
    // One timer on the attempt's own controller: cheaper than AbortSignal.timeout() joined by AbortSignal.any().
    const timer = setTimeout(() => controller.abort(TIMED_OUT), timeoutMs);
    timer.unref();
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
        signal: controller.signal,
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
      const timedOut = controller.signal.aborted && controller.signal.reason === TIMED_OUT;
      const reason = timedOut ? `no answer within ${timeoutMs} ms` : err instanceof Error ? err.message : 'request failed';
      return { ok: false, status: null, error: reason.slice(0, 300) };
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
