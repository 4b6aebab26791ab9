import { fail, type LegwayError } from '../../domain/errors.js';
import type { LimitWarnings } from '../../services/limitWarnings.js';

/** A connection's place in the quota; `release` gives it back (twice is harmless). */
export interface QuotaPlace {
  readonly release: () => void;
}

/**
 * Socket connections at once per token subject and per remote address, over both namespaces:
 * each connection holds buffers, subscriptions and a rate-limit bucket, so one user or one
 * address cannot open them without bound.
 */
export class ConnectionQuota {
  private readonly bySubject = new Map<string, number>();
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly perSubject: number,
    private readonly perAddress: number,
    private readonly warnings: LimitWarnings,
  ) {}

  /** Takes a place for a new connection of `subject` (role and sub) from `address`, or returns the refusal. */
  admit(subject: string, address: string): QuotaPlace | LegwayError {
    if ((this.bySubject.get(subject) ?? 0) >= this.perSubject) {
      this.warnings.tripped('max_sockets_per_subject', subject);
      return fail('LimitReached', `too many connections for this user (at most ${this.perSubject} at once); close one first`);
    }
    if ((this.byAddress.get(address) ?? 0) >= this.perAddress) {
      this.warnings.tripped('max_sockets_per_ip', address);
      return fail('LimitReached', `too many connections from this address (at most ${this.perAddress} at once)`);
    }
    add(this.bySubject, subject, 1);
    add(this.byAddress, address, 1);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        add(this.bySubject, subject, -1);
        add(this.byAddress, address, -1);
      },
    };
  }
}

function add(counts: Map<string, number>, key: string, delta: number): void {
  const n = (counts.get(key) ?? 0) + delta;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}
