import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.js';
import type { NodesRepo } from '../store/nodesRepo.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';

export interface WebhookLeaderOptions {
  nodeId: string;
  nodes: NodesRepo;
  dispatcher: WebhookDispatcher;
  clock: Clock;
  logger: Logger;
  /** How often a node checks whether it is to deliver (a third of the node lease). */
  checkMs: number;
  /** How often the delivering node looks for lanes that other nodes' appends made due. */
  pollMs: number;
  /** Starts this node's dispatcher (once). */
  startDelivering: () => void;
}

/**
 * In a cluster, one node at a time delivers the shared webhook lanes: the live node (lease held)
 * with the lowest id. So each conversation's events still go out one at a time in id order. When
 * that node is lost, the next one takes over once its lease has lapsed, and delivers what is left,
 * those the lost node had in flight included (their lanes' cursors had not moved past them, so they
 * are sent again: at least once). Lanes that other nodes' appends made due are found by reading
 * the due lanes every `pollMs`.
 */
export class WebhookLeader {
  private checkTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private leading = false;

  constructor(private readonly options: WebhookLeaderOptions) {}

  start(): void {
    this.check();
    this.checkTimer = setInterval(() => this.check(), this.options.checkMs);
    this.checkTimer.unref();
  }

  /** Whether this node delivers the webhooks now. */
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
    logger.info({ node_id: nodeId }, 'this node delivers the webhooks');
    this.options.startDelivering();
    this.pollTimer = setInterval(() => this.poll(), this.options.pollMs);
    this.pollTimer.unref();
  }

  /** Has the dispatcher read the due lanes again (if it has a slot free), as this node's own appends wake it. */
  private poll(): void {
    this.options.dispatcher.poke();
  }
}
