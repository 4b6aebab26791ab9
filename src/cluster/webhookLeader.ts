import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.js';
import type { NodesRepo } from '../store/nodesRepo.js';
import type { OutboxRepo } from '../store/outboxRepo.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';

export interface WebhookLeaderOptions {
  nodeId: string;
  nodes: NodesRepo;
  /** The shared outbox, read for entries other nodes queued. */
  outbox: OutboxRepo;
  dispatcher: WebhookDispatcher;
  clock: Clock;
  logger: Logger;
  /** How often a node checks whether it is to deliver (a third of the node lease). */
  checkMs: number;
  /** How often the delivering node looks for entries other nodes queued. */
  pollMs: number;
  /** Starts this node's dispatcher (once). */
  startDelivering: () => void;
}

/**
 * In a cluster, one node at a time delivers the shared webhook outbox: the live node (lease held)
 * with the lowest id. So each conversation's events still go out one at a time in id order. When
 * that node is lost, the next one takes over once its lease has lapsed, and delivers what is left,
 * those the lost node had in flight included (they were not deleted, so they are sent again: at
 * least once). Events other nodes commit are found by reading the outbox's heads every `pollMs`.
 */
export class WebhookLeader {
  private checkTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private leading = false;
  /** The highest outbox seq handed to the dispatcher by a poll. */
  private polledSeq = 0;

  constructor(private readonly options: WebhookLeaderOptions) {}

  start(): void {
    this.check();
    this.checkTimer = setInterval(() => this.check(), this.options.checkMs);
    this.checkTimer.unref();
  }

  /** Whether this node delivers the outbox now. */
  get delivering(): boolean {
    return this.leading;
  }

  close(): void {
    clearInterval(this.checkTimer);
    clearInterval(this.pollTimer);
  }

  private check(): void {
    if (this.leading) return;
    const { nodes, nodeId, clock, logger } = this.options;
    try {
      const now = clock.now().getTime();
      const live = nodes
        .list()
        .filter((n) => (n.state === 'active' || n.state === 'draining') && n.lease_until >= now)
        .map((n) => n.id)
        .sort();
      if (live[0] !== nodeId) return;
    } catch (err) {
      logger.warn({ err }, 'could not read the cluster’s nodes');
      return;
    }
    this.leading = true;
    clearInterval(this.checkTimer);
    logger.info({ node_id: nodeId }, 'this node delivers the webhook outbox');
    this.options.startDelivering();
    this.pollTimer = setInterval(() => this.poll(), this.options.pollMs);
    this.pollTimer.unref();
  }

  /** Hands the dispatcher what was queued since the last poll, as the append hook does for this node's own entries; one per conversation is enough, the rest follow in turn. */
  private poll(): void {
    const seen = new Set<string>();
    for (const entry of this.options.outbox.pendingAfter(this.polledSeq, 1000)) {
      this.polledSeq = entry.seq;
      if (seen.has(entry.conversation_id)) continue;
      seen.add(entry.conversation_id);
      this.options.dispatcher.enqueued(entry.conversation_id, entry.seq, entry.created_at);
    }
  }
}
