import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.js';
import type { LegService } from '../services/legService.js';
import type { SipLegService } from '../services/sipLegService.js';
import type { Store } from '../store/store.js';
import type { LegwayIo } from '../interfaces/socket/server.js';
import { serveLegRequests } from './legRequests.js';
import { NodeBus } from './nodeBus.js';
import type { RedisLink } from './redisLink.js';

/**
 * Makes this node's legs part of the cluster: a conversation's media lives on its owner, so legs
 * are made, acted on and SIP calls taken there; requests to other nodes go over Redis. Returns the
 * node bus (closed at shutdown).
 */
export async function joinCluster(deps: {
  nodeId: string;
  redis: RedisLink;
  store: Store;
  clock: Clock;
  io: LegwayIo;
  legs: LegService;
  sipLegs: SipLegService;
  logger: Logger;
}): Promise<NodeBus> {
  const { nodeId, store, clock, io, legs } = deps;
  const bus = await NodeBus.start(deps.redis.client, nodeId, deps.logger.child({ component: 'node-bus' }));
  /** The conversation's owner, after taking it for this node when no live node has it. */
  const ownerOf = (conversationId: string): string => store.write(() => store.owners.claim(conversationId, nodeId, clock.now().getTime()));
  serveLegRequests(bus, legs, (socketId, legId, sdp) => io.to(socketId).emit('rtc:offer', { leg_id: legId, offer: { type: 'offer', sdp } }));
  legs.joinCluster({
    nodeId,
    ownerOf,
    release: (conversationId) => store.write(() => store.owners.release(conversationId, nodeId)),
    remoteNodeOf: (legId) => {
      const node = store.legs.nodeOf(legId);
      return node !== undefined && node !== nodeId ? node : undefined;
    },
    request: (node, method, params) => bus.request(node, method, params),
  });
  deps.sipLegs.joinCluster((conversationId) => {
    const owner = ownerOf(conversationId);
    return owner === nodeId ? undefined : (store.nodes.get(owner)?.sip_address ?? undefined);
  });
  return bus;
}
