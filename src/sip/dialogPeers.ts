/**
 * Who may send requests inside a dialog: its peer. Knowing a dialog's Call-ID and tags is not
 * enough — they travel in clear and are logged by every proxy on the way — so a BYE, re-INVITE or
 * INFO is taken only from where the dialog's other end is:
 *
 * - a dialog we answered: the IP address its INVITE came from;
 * - a dialog we placed: the IP addresses we sent the INVITE to and those its responses came from.
 *
 * By IP address, not port: a trunk sends from changing ports, and a TCP peer may open a new
 * connection. Entries go when their dialog is gone (see `sweep`).
 */

interface Entry {
  readonly ips: Set<string>;
  at: number;
}

/** Where our requests of a Call-ID went is kept this long (an outbound call may ring for minutes). */
const SENT_TTL_MS = 10 * 60_000;
/** At most this many Call-IDs of ours are remembered (oldest forgotten first). */
const SENT_LIMIT = 100_000;

export class DialogPeers {
  private readonly byDialog = new Map<string, Entry>();
  private readonly sentTo = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Dialogs with a known peer. */
  get size(): number {
    return this.byDialog.size;
  }

  /** A dialog we answered: its peer is where the INVITE came from. */
  learn(dialogId: string, address: string): void {
    this.add(this.byDialog, dialogId, [address]);
  }

  /** A request of ours (an INVITE placing a call) left for `address`. */
  noteSent(callId: string, address: string): void {
    for (const [key, entry] of this.sentTo) {
      if (this.now() - entry.at < SENT_TTL_MS && this.sentTo.size < SENT_LIMIT) break;
      this.sentTo.delete(key);
    }
    this.add(this.sentTo, callId, [address]);
  }

  /** A response to our INVITE made (or belongs to) a dialog: its peers are where we sent and where this came from. */
  learnPlaced(dialogId: string, callId: string, responseAddress: string): void {
    this.add(this.byDialog, dialogId, [responseAddress, ...(this.sentTo.get(callId)?.ips ?? [])]);
  }

  /** Whether a request from `address` may act inside the dialog (an unknown dialog has no peer). */
  allows(dialogId: string, address: string): boolean {
    return this.byDialog.get(dialogId)?.ips.has(address) ?? false;
  }

  /** Forgets the dialogs that ended, and the Call-IDs of ours gone stale. */
  sweep(isLive: (dialogId: string) => boolean): void {
    for (const id of this.byDialog.keys()) {
      if (!isLive(id)) this.byDialog.delete(id);
    }
    const now = this.now();
    for (const [key, entry] of this.sentTo) {
      if (now - entry.at >= SENT_TTL_MS) this.sentTo.delete(key);
    }
  }

  clear(): void {
    this.byDialog.clear();
    this.sentTo.clear();
  }

  private add(table: Map<string, Entry>, key: string, addresses: Iterable<string>): void {
    const entry = table.get(key) ?? { ips: new Set<string>(), at: 0 };
    for (const address of addresses) entry.ips.add(address);
    entry.at = this.now();
    table.delete(key);
    table.set(key, entry);
  }
}
