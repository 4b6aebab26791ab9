import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.js';
import type { NodeRecord, NodeState, NodesRepo } from '../store/nodesRepo.js';

/** What this node tells the others about itself when it registers. */
export interface NodeAddress {
  http_url: string;
  sip_address: string | null;
  media_ip: string | null;
}

export interface NodeLeaseOptions {
  nodeId: string;
  /** How long a lease lasts; it is renewed every third of it. */
  leaseMs: number;
  clock: Clock;
  logger: Logger;
  /** The store's node table and its transaction. */
  nodes: NodesRepo;
  /** Someone set this node draining (`legway cluster drain`). */
  onDraining: () => void;
  /**
   * Another node's lease lapsed and this node won the right to clean up after it: end its legs
   * (with their events) and let their members leave.
   */
  onLost: (node: NodeRecord) => void;
  /** This node's own lease was found lapsed and taken over (its legs were ended for it): it must stop. */
  onSelfLost: () => void;
}

/**
 * This node's membership of the cluster: a row in the shared store with a lease it renews every
 * third of its length. On each renewal it also looks for nodes whose lease ran out (a process killed,
 * a machine gone) and, when it is the one that marks such a node lost, has its legs ended. Leases
 * compare times from different machines: their clocks must agree to well under a lease (NTP).
 */
export class NodeLease {
  private timer: NodeJS.Timeout | undefined;
  private state: NodeState = 'active';
  private stopped = false;

  constructor(private readonly options: NodeLeaseOptions) {}

  /** Registers this node (taking its row back if it ran before) and starts renewing. */
  start(address: NodeAddress): void {
    const { nodes, nodeId, clock, leaseMs } = this.options;
    nodes.register({ id: nodeId, ...address, started_at: clock.now().toISOString(), lease_until: clock.now().getTime() + leaseMs });
    this.timer = setInterval(() => this.tick(), Math.max(500, Math.floor(leaseMs / 3)));
    this.timer.unref();
  }

  /** Renews the lease and ends the legs of nodes whose lease lapsed (the timer does this every third of a lease). */
  tick(): void {
    if (this.stopped) return;
    const { nodes, nodeId, clock, leaseMs, logger } = this.options;
    const now = clock.now().getTime();
    try {
      const state = nodes.renew(nodeId, now + leaseMs);
      if (state === undefined) {
        this.stop();
        logger.fatal({ node_id: nodeId }, 'this node was counted lost by the cluster (its lease lapsed); stopping');
        this.options.onSelfLost();
        return;
      }
      if (state === 'draining' && this.state !== 'draining') {
        logger.warn({ node_id: nodeId }, 'draining: no new calls or legs here; those running go on');
        this.options.onDraining();
      }
      this.state = state;
      for (const node of nodes.lapsed(now)) {
        if (node.id === nodeId || !nodes.markLost(node.id, now)) continue;
        logger.warn({ node_id: node.id, lapsed_ms: now - node.lease_until }, 'a node of the cluster was lost; ending its legs');
        this.options.onLost(node);
      }
    } catch (err) {
      // The store is unreachable: the lease may lapse, and the others then take over.
      logger.error({ err }, 'could not renew this node’s lease');
    }
  }

  /** Marks this node draining in the store (and so, at its next renewal, here too). */
  drain(): void {
    this.options.nodes.setState(this.options.nodeId, 'draining');
    this.tick();
  }

  /** Stops renewing and records a clean stop (no other node ends this node's legs: it ended them itself). */
  close(): void {
    if (this.stopped) return;
    this.stop();
    try {
      this.options.nodes.setState(this.options.nodeId, 'stopped');
    } catch (err) {
      this.options.logger.warn({ err }, 'could not record this node’s stop');
    }
  }

  private stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
