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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'legway_' });
  }
}
