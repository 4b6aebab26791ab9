import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway's Prometheus metrics, on a registry of its own (several apps can live in one test process). */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'legway_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'legway_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly eventsAppended = new Counter({
    name: 'legway_events_appended_total',
    help: 'Conversation events committed, by type family (text, member, audio, ...)',
    labelNames: ['family'] as const,
    registers: [this.registry],
  });
  readonly socketConnections = new Gauge({
    name: 'legway_socket_connections',
    help: 'Open socket.io connections by namespace',
    labelNames: ['namespace'] as const,
    registers: [this.registry],
  });
  readonly socketRequests = new Counter({
    name: 'legway_socket_requests_total',
    help: 'Socket requests by name and outcome (ok or error code)',
    labelNames: ['request', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookDelivered = new Counter({
    name: 'legway_webhook_delivered_total',
    help: 'Webhook deliveries answered with 2xx',
    registers: [this.registry],
  });
  readonly webhookRetried = new Counter({
    name: 'legway_webhook_retried_total',
    help: 'Webhook attempts that failed and were scheduled again',
    registers: [this.registry],
  });
  readonly webhookFailed = new Counter({
    name: 'legway_webhook_failed_total',
    help: 'Webhook deliveries parked as failed (4xx other than 408/429, or retries exhausted)',
    registers: [this.registry],
  });
  readonly webhookLatency = new Histogram({
    name: 'legway_webhook_delivery_latency_seconds',
    help: 'From event commit to the 2xx answer of its webhook',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, 3600],
    registers: [this.registry],
  });
  private webhookQueueSource: (() => { pending: number; failed: number }) | undefined;
  readonly webhookQueue = new Gauge({
    name: 'legway_webhook_queue_depth',
    help: 'Webhook deliveries waiting (pending) or parked (failed)',
    labelNames: ['state'] as const,
    registers: [this.registry],
    // Read from the outbox when scraped, rather than kept up to date on the delivery path.
    collect: () => {
      const counts = this.webhookQueueSource?.();
      if (!counts) return;
      this.webhookQueue.set({ state: 'pending' }, counts.pending);
      this.webhookQueue.set({ state: 'failed' }, counts.failed);
    },
  });

  /** Tells the queue-depth gauge where to read the outbox's counts. */
  countWebhookQueueWith(source: () => { pending: number; failed: number }): void {
    this.webhookQueueSource = source;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'legway_' });
  }
}
