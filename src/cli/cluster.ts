import type { Config } from '../config/schema.js';
import type { NodeRecord } from '../store/nodesRepo.js';
import { Store } from '../store/store.js';

/** One node as `legway cluster status` shows it. */
export interface NodeStatus {
  id: string;
  /** The recorded state; `active` or `draining` with a lease run out reads `lapsed` until another node marks it lost. */
  state: NodeRecord['state'] | 'lapsed';
  http_url: string;
  sip_address: string | null;
  media_ip: string | null;
  started_at: string;
  /** Milliseconds until the lease runs out (negative: since it did). */
  lease_ms: number;
  legs: number;
  conversations: number;
}

/** Reads the cluster's nodes, their leases, and the legs and conversations each runs, from the shared store. */
export function clusterStatus(store: Store, now: number): NodeStatus[] {
  const running = store.legs.countRunningPerNode();
  return store.nodes.list().map((n) => {
    const live = n.state === 'active' || n.state === 'draining';
    const counts = running.get(n.id) ?? { legs: 0, conversations: 0 };
    return {
      id: n.id,
      state: live && n.lease_until < now ? 'lapsed' : n.state,
      http_url: n.http_url,
      sip_address: n.sip_address,
      media_ip: n.media_ip,
      started_at: n.started_at,
      lease_ms: n.lease_until - now,
      ...counts,
    };
  });
}

/** The status as a table for people. */
export function formatStatus(nodes: readonly NodeStatus[]): string {
  if (nodes.length === 0) return 'no node has registered in this store yet\n';
  const rows = nodes.map((n) => [
    n.id,
    n.state,
    n.state === 'active' || n.state === 'draining'
      ? `${(n.lease_ms / 1000).toFixed(1)} s left`
      : n.state === 'lapsed'
        ? `lapsed ${(-n.lease_ms / 1000).toFixed(1)} s ago`
        : '-',
    String(n.conversations),
    String(n.legs),
    n.http_url,
    n.sip_address ?? '-',
  ]);
  const header = ['node', 'state', 'lease', 'conversations', 'legs', 'http', 'sip'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `${cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()}\n`;
  return line(header) + rows.map(line).join('');
}

/** Opens the store the configuration names (the data folder's SQLite file, or the cluster's PostgreSQL). */
export function openStore(config: Config): Store {
  return Store.open(config.dataDir, { synchronous: config.sqliteSynchronous, nodeId: config.cluster.nodeId, databaseUrl: config.databaseUrl });
}

/** Sets `nodeId` draining: at its next lease renewal it refuses new legs and answers SIP probes 503. False when no such node is running. */
export function drainNode(store: Store, nodeId: string): boolean {
  const node = store.nodes.get(nodeId);
  if (!node || (node.state !== 'active' && node.state !== 'draining')) return false;
  store.write(() => store.nodes.setState(nodeId, 'draining'));
  return true;
}
