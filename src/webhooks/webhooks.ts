import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { EventLog } from '../events/eventLog.js';
import { isWebhookEvent } from '../events/catalogue.js';
import type { Clock } from '../lib/clock.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/store.js';
import { WebhookDispatcher } from './dispatcher.js';

/** The webhook machinery of a running gateway: the outbox feed and, when `event_url` is set, its dispatcher. */
export interface Webhooks {
  readonly enabled: boolean;
  readonly dispatcher: WebhookDispatcher | undefined;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Wires the outbox to the event log: every event the catalogue marks for the webhook (or every
 * event, when configured) is queued in its own transaction, and the dispatcher is woken after commit.
 */
export function setUpWebhooks(deps: { config: Config; store: Store; log: EventLog; clock: Clock; metrics: Metrics; logger: Logger }): Webhooks {
  const { config, store, log, metrics } = deps;
  const outbox = store.outbox;
  const url = config.eventUrl;
  if (url === undefined) {
    metrics.countWebhookQueueWith(() => outbox.counts());
    return { enabled: false, dispatcher: undefined, start: () => undefined, stop: () => Promise.resolve() };
  }
  const dispatcher = new WebhookDispatcher({
    url,
    outbox,
    transaction: (fn) => store.transaction(fn),
    signing: { secret: config.signatureSecret, applicationId: config.applicationId },
    config: config.webhook,
    metrics,
    logger: deps.logger.child({ component: 'webhook' }),
    now: () => deps.clock.now().getTime(),
    readsOnlyDurable: store.dialect === 'postgres',
  });
  metrics.countWebhookQueueWith(() => dispatcher.queueDepth());
  log.addAppendHook(
    (event) => {
      const at = deps.clock.now().getTime();
      const seq = outbox.enqueue(event, at);
      store.afterCommit(() => dispatcher.enqueued(event.conversation_id, seq, at));
    },
    (type) => config.webhook.allEvents || isWebhookEvent(type),
  );
  return { enabled: true, dispatcher, start: () => dispatcher.start(), stop: () => dispatcher.stop() };
}
