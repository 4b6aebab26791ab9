import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { types as ms } from 'mediasoup';
import type { MediaEngine, WebRtcEndpoint } from '../engine.js';
import { MediasoupWebRtcEndpoint, type EndpointNetwork } from './webRtcEndpoint.js';
import { WorkerPool } from './workerPool.js';
import type { MediaThreads } from '../threads/mediaThreads.js';

export interface MediasoupEngineOptions {
  workerBin: string;
  workers?: number;
  listenIp: string;
  announcedAddress: string | undefined;
  rtpPorts: { min: number; max: number };
  logger: Logger;
  /** Where the legs' audio sockets run; in this process when undefined. */
  threads?: MediaThreads | undefined;
  /** Nice value for the workers (see media/priority.ts); left as they start when undefined. */
  priority?: number | undefined;
}

/** The address to put in ICE candidates when listening on every interface: the first external IPv4. */
function defaultAnnouncedAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) if (info.family === 'IPv4' && !info.internal) return info.address;
  }
  return '127.0.0.1';
}

/** The media engine on mediasoup: a worker pool and one endpoint (router) per WebRTC leg. */
export class MediasoupEngine implements MediaEngine {
  private readonly perConversation = new Map<string, number>();

  private constructor(
    private readonly pool: WorkerPool,
    private readonly network: EndpointNetwork,
    /** Shared with the pool's death callback, which must reach endpoints made after it was set up. */
    private readonly byRouter: Map<ms.Router, MediasoupWebRtcEndpoint>,
  ) {}

  static async start(options: MediasoupEngineOptions): Promise<MediasoupEngine> {
    const byRouter = new Map<ms.Router, MediasoupWebRtcEndpoint>();
    const pool = await WorkerPool.start({
      workerBin: options.workerBin,
      ...(options.workers !== undefined && { size: options.workers }),
      logger: options.logger.child({ component: 'mediasoup' }),
      ...(options.priority !== undefined && { priority: options.priority }),
      onWorkerDied: (routers) => {
        for (const router of routers) byRouter.get(router)?.workerDied();
      },
    });
    const unspecified = options.listenIp === '0.0.0.0' || options.listenIp === '::';
    const endpointLogger = options.logger.child({ component: 'webrtc-endpoint' });
    const network: EndpointNetwork = {
      onListenerError: (err, event) => endpointLogger.error({ err, event }, 'endpoint listener failed'),
      listenIp: options.listenIp,
      announcedAddress: options.announcedAddress ?? (unspecified ? defaultAnnouncedAddress() : undefined),
      portRange: options.rtpPorts,
      threads: options.threads,
    };
    return new MediasoupEngine(pool, network, byRouter);
  }

  async createWebRtcEndpoint(options: { conversationId: string; legId: string; offerSdp: string }): Promise<WebRtcEndpoint> {
    const { conversationId } = options;
    const endpoint = await MediasoupWebRtcEndpoint.create(
      (codecs) => this.pool.createRouter(conversationId, codecs),
      options.legId,
      options.offerSdp,
      this.network,
      conversationId,
    );
    this.byRouter.set(endpoint.router, endpoint);
    this.perConversation.set(conversationId, (this.perConversation.get(conversationId) ?? 0) + 1);
    endpoint.on('closed', () => {
      this.byRouter.delete(endpoint.router);
      const left = (this.perConversation.get(conversationId) ?? 1) - 1;
      if (left > 0) this.perConversation.set(conversationId, left);
      else {
        this.perConversation.delete(conversationId);
        this.pool.release(conversationId);
      }
    });
    return endpoint;
  }

  async close(): Promise<void> {
    for (const endpoint of [...this.byRouter.values()]) await endpoint.close();
    await this.pool.close();
  }
}
