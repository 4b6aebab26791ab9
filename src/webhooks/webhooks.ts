import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { EventLog } from '../events/eventLog.js';
import { isWebhookEvent } from '../events/catalogue.js';
import type { Clock } from '../lib/clock.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/store.js';
import { WebhookDispatcher } from './dispatcher.js';

/** The webhook machinery of a running gateway: the lanes' feed and, when `event_url` is set, its dispatcher. */
export interface Webhooks {
  readonly enabled: boolean;
  readonly dispatcher: WebhookDispatcher | undefined;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Wires the webhook lanes to the event log: every event the catalogue marks for the webhook (or
 * every event, when configured) is queued in its lane in its own transaction, and the dispatcher is
 * woken once it is on disk.
 */
export function setUpWebhooks(deps: { config: Config; store: Store; log: EventLog; clock: Clock; metrics: Metrics; logger: Logger }): Webhooks {
  const { config, store, log, metrics } = deps;
  const { lanes, outbox } = store;
  const url = config.eventUrl;
  if (url === undefined) {
    metrics.countWebhookQueueWith(() => ({ pending: lanes.pending(), failed: outbox.failedCount() }));
    return { enabled: false, dispatcher: undefined, start: () => undefined, stop: () => Promise.resolve() };
  }
  const wants = (type: string): boolean => config.webhook.allEvents || isWebhookEvent(type);
  const dispatcher = new WebhookDispatcher({
    url,
    lanes,
    outbox,
    events: store.events,
    wants,
    transaction: (fn) => store.transaction(fn),
    signing: { secret: config.signatureSecret, applicationId: config.applicationId },
    config: config.webhook,
    metrics,
    logger: deps.logger.child({ component: 'webhook' }),
    now: () => deps.clock.now().getTime(),
    readsOnlyDurable: store.dialect === 'postgres',
  });
  metrics.countWebhookQueueWith(() => dispatcher.queueDepth());
  log.addAppendHook((event) => {
    const at = deps.clock.now().getTime();
    lanes.appended(event.conversation_id, event.id, at);
    dispatcher.appending(event.conversation_id, event.id);
    store.afterCommit(() => dispatcher.enqueued(event.conversation_id, event.id, at));
  }, wants);
  return { enabled: true, dispatcher, start: () => dispatcher.start(), stop: () => dispatcher.stop() };
}
