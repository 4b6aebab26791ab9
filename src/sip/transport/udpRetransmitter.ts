import { T1_MS, T2_MS } from './types.js';

/**
 * The UDP retransmissions RFC 3261 §17 gives to transactions, which sip.js (written for reliable
 * WebSocket transports) leaves out: requests resent on Timer A (INVITE) and Timer E (others) until a
 * response, non-2xx final responses to INVITE resent on Timer G until the ACK, all given up after
 * 64·T1 (Timers B, F, H), when sip.js's own transaction times out too. The transport drives this
 * from what it sends and receives; sip.js's transactions stay in charge of everything else.
 */

interface Entry {
  interval: number;
  readonly capped: boolean;
  readonly deadline: number;
  readonly resend: () => void;
  timer: NodeJS.Timeout | undefined;
}

export interface RetransmitTiming {
  readonly t1: number;
  readonly t2: number;
}

export class UdpRetransmitter {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly timing: RetransmitTiming = { t1: T1_MS, t2: T2_MS }) {}

  /** Number of messages being retransmitted. */
  get size(): number {
    return this.entries.size;
  }

  /** A request was sent over UDP: resend until a response (INVITE) or a final response (others). ACK is never resent. */
  requestSent(branch: string, method: string, resend: () => void): void {
    const upper = method.toUpperCase();
    if (upper === 'ACK') return;
    this.start(requestKey(branch, upper), resend, upper !== 'INVITE');
  }

  /** A response arrived: stops (or, for a provisional response to a non-INVITE, slows to T2) its request's resending. */
  responseReceived(branch: string, method: string, status: number): void {
    const upper = method.toUpperCase();
    const key = requestKey(branch, upper);
    const entry = this.entries.get(key);
    if (!entry) return;
    if (upper !== 'INVITE' && status < 200) {
      // Timer E in Proceeding fires every T2 (RFC 3261 §17.1.2.2).
      entry.interval = this.timing.t2;
      this.schedule(key, entry);
      return;
    }
    this.stop(key);
  }

  /** A non-2xx final response to an INVITE was sent over UDP: resend until the ACK (Timer G). */
  inviteRejectionSent(branch: string, resend: () => void): void {
    this.start(ackKey(branch), resend, true);
  }

  /** An ACK arrived: stops Timer G of its INVITE's final response. */
  ackReceived(branch: string): void {
    this.stop(ackKey(branch));
  }

  /** Stops everything. */
  clear(): void {
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    this.entries.clear();
  }

  private start(key: string, resend: () => void, capped: boolean): void {
    this.stop(key);
    const entry: Entry = { interval: this.timing.t1, capped, deadline: Date.now() + 64 * this.timing.t1, resend, timer: undefined };
    this.entries.set(key, entry);
    this.schedule(key, entry);
  }

  private schedule(key: string, entry: Entry): void {
    clearTimeout(entry.timer);
    const delay = Math.min(entry.interval, Math.max(0, entry.deadline - Date.now()));
    entry.timer = setTimeout(() => this.fire(key, entry), delay);
    entry.timer.unref();
  }

  private fire(key: string, entry: Entry): void {
    if (this.entries.get(key) !== entry) return;
    if (Date.now() >= entry.deadline) {
      this.entries.delete(key);
      return;
    }
    try {
      entry.resend();
    } catch {
      // A failed resend is like a lost packet: the next one may get through.
    }
    entry.interval = entry.capped ? Math.min(entry.interval * 2, this.timing.t2) : entry.interval * 2;
    this.schedule(key, entry);
  }

  private stop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.entries.delete(key);
  }
}

function requestKey(branch: string, method: string): string {
  return `${method} ${branch}`;
}

function ackKey(branch: string): string {
  return `ACK-WAIT ${branch}`;
}
