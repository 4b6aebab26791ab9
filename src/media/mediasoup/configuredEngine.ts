import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { MediaEngine } from '../engine.js';
import type { MediaThreads } from '../threads/mediaThreads.js';
import { MediasoupEngine } from './mediasoupEngine.js';

/** Starts mediasoup with the configured worker; without a worker the gateway runs with media off. */
export async function startMediaEngine(config: Config, logger: Logger, threads: MediaThreads | undefined): Promise<MediaEngine | undefined> {
  if (!existsSync(config.mediasoupWorker)) {
    if (config.mediasoupWorkerConfigured) throw new Error(`mediasoup worker not found at ${config.mediasoupWorker}`);
    logger.warn({ worker: config.mediasoupWorker }, 'no mediasoup worker: media (WebRTC legs) is off; run `npm ci` to build one');
    return undefined;
  }
  return MediasoupEngine.start({
    workerBin: config.mediasoupWorker,
    ...(config.rtc.workers !== undefined && { workers: config.rtc.workers }),
    listenIp: config.rtc.listenIp,
    announcedAddress: config.rtc.announcedAddress,
    rtpPorts: config.rtpPorts,
    logger,
    threads,
    priority: config.mediaPriority,
  });
}
