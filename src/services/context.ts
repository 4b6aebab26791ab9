import type { Logger } from 'pino';
import type { EventLog } from '../events/eventLog.js';
import type { Clock } from '../lib/clock.js';
import type { Store } from '../store/store.js';

/** What every application service is built from; assembled once by the composition root. */
export interface ServiceContext {
  store: Store;
  log: EventLog;
  clock: Clock;
  logger: Logger;
}
