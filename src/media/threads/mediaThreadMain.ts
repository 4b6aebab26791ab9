/** A media thread's entry point (node:worker_threads): a MediaThreadHost on the parent's port. */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../observability/logger.js';
import { prioritiseThisThread } from '../priority.js';
import { MediaThreadHost } from './mediaThreadHost.js';
import { MessageBatch } from './messageBatch.js';
import type { FromThread, ToThread } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('mediaThreadMain runs as a worker thread');
const { logLevel, index, priority } = workerData as { logLevel: string; index: number; priority?: number };
const logger = createLogger(logLevel).child({ component: 'media-thread', thread: index });
if (priority !== undefined) prioritiseThisThread(priority, logger);
// Both ways, a turn's messages travel as one array (see MessageBatch).
const outbox = new MessageBatch<FromThread>((messages, transfer) => port.postMessage(messages, transfer));
const host = new MediaThreadHost((message: FromThread, transfer?: ArrayBuffer[]) => outbox.push(message, transfer), logger);
port.on('message', (messages: ToThread[]) => {
  for (const message of messages) host.handle(message);
});
port.on('close', () => host.close());
