import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { request as httpRequest } from 'undici';
import { request as sipRequest, statusOf, UdpPeer } from '../test/support/sipPeers.js';

// A full collection before each memory reading, as bench/soak.ts does: RSS then shows what is
// still held, not garbage waiting for a collection.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Crashes: the gateway runs in this process, so anything that escapes it — an uncaught exception
 * or an unhandled rejection — is caught here, counted and kept (the process lives on to report).
 */
export class CrashWatch {
  readonly crashes: string[] = [];

  constructor() {
    process.on('uncaughtException', (err) => this.crashes.push(`uncaught exception: ${describe(err)}`));
    process.on('unhandledRejection', (reason) => this.crashes.push(`unhandled rejection: ${describe(reason)}`));
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** RSS after a full collection, in bytes. */
export function settledRss(): number {
  gc();
  gc();
  return process.memoryUsage().rss;
}

/** RSS readings taken along the run (each after a full collection). */
export class RssSampler {
  readonly samples: { at: string; rss: number; heap: number; external: number }[] = [];

  sample(at: string): number {
    const rss = settledRss();
    const { heapUsed, external } = process.memoryUsage();
    this.samples.push({ at, rss, heap: heapUsed, external });
    return rss;
  }
}

/**
 * Liveness from outside: the gateway answers GET /healthz and a SIP OPTIONS over UDP. Each probe
 * failure is kept with the moment it happened.
 */
export class LivenessProbe {
  readonly failures: string[] = [];
  probes = 0;

  private constructor(
    private readonly httpUrl: string,
    private readonly sipPort: number,
    private readonly peer: UdpPeer,
  ) {}

  static async open(httpUrl: string, sipPort: number): Promise<LivenessProbe> {
    return new LivenessProbe(httpUrl, sipPort, await UdpPeer.open());
  }

  /** Probes both; `where` says which part of the run it was. */
  async check(where: string): Promise<void> {
    this.probes++;
    try {
      // A connection of its own each time: the in-process targets hold the event loop for minutes,
      // past the server's keep-alive timeout, and a kept connection would be found reset.
      const res = await httpRequest(`${this.httpUrl}/healthz`, { headersTimeout: 5000, bodyTimeout: 5000, reset: true });
      await res.body.dump();
      if (res.statusCode !== 200) this.failures.push(`${where}: /healthz answered ${res.statusCode}`);
    } catch (err) {
      this.failures.push(`${where}: /healthz failed: ${(err as Error).message}`);
    }
    const callId = `fuzz-probe-${this.probes}`;
    const options = sipRequest('OPTIONS', {
      via: `SIP/2.0/UDP 127.0.0.1:${this.peer.port};branch=z9hG4bK-fuzz-probe-${this.probes};rport`,
      headers: { 'Call-ID': callId },
    });
    this.peer.received.length = 0;
    try {
      await this.peer.send(this.sipPort, options);
      const answer = await this.peer.waitFor((m) => m.includes(callId), 'an answer to OPTIONS', 5000);
      if (statusOf(answer) !== 200) this.failures.push(`${where}: SIP OPTIONS answered ${statusOf(answer)}`);
    } catch (err) {
      this.failures.push(`${where}: SIP OPTIONS got no answer: ${(err as Error).message}`);
    }
  }

  close(): Promise<void> {
    return this.peer.close();
  }
}
