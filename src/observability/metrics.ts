import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CommitObserver } from '../store/groupCommit.js';

/** SIP legs' media, summed over the legs running now and those that ended. */
export interface SipMediaTotals {
  legsByCodec: Record<string, number>;
  packetsIn: number;
  packetsOut: number;
  lost: number;
  late: number;
  concealedSeconds: number;
  droppedWrongSource: number;
  droppedProbation: number;
  malformed: number;
  unknownPayloadType: number;
  rtcpIn: number;
  rtcpOut: number;
  maxJitterSeconds: number;
}

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
  readonly storeCommitDuration = new Histogram({
    name: 'legway_store_commit_seconds',
    help: 'SQLite group commits: how long each held the event loop (its last writes and COMMIT, which writes its pages to the WAL)',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
    registers: [this.registry],
  });
  readonly storeSyncDuration = new Histogram({
    name: 'legway_store_wal_sync_seconds',
    help: 'SQLite group commits: each fdatasync of the WAL, off the event loop; nothing a group holds is announced before its sync ends',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  /** What the store tells of its commits, into the two histograms above. */
  readonly storeCommits: CommitObserver = {
    committed: (seconds) => this.storeCommitDuration.observe(seconds),
    synced: (seconds) => this.storeSyncDuration.observe(seconds),
  };
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
    // Read from the lanes and parked deliveries when scraped, rather than kept up to date on the delivery path.
    collect: () => {
      const counts = this.webhookQueueSource?.();
      if (!counts) return;
      this.webhookQueue.set({ state: 'pending' }, counts.pending);
      this.webhookQueue.set({ state: 'failed' }, counts.failed);
    },
  });

  private sipMediaSource: (() => SipMediaTotals) | undefined;
  readonly sipLegs = this.sipGauge('legway_sip_legs', 'SIP legs running now, by codec', ['codec'], (t, g) => {
    g.reset();
    for (const [codec, count] of Object.entries(t.legsByCodec)) g.set({ codec }, count);
  });
  readonly sipRtpPackets = this.sipCounter('legway_sip_rtp_packets_total', 'RTP packets of SIP legs, by direction', ['direction'], (t) => [
    [{ direction: 'in' }, t.packetsIn],
    [{ direction: 'out' }, t.packetsOut],
  ]);
  readonly sipRtpLost = this.sipCounter(
    'legway_sip_rtp_lost_packets_total',
    'RTP packets of SIP legs lost on the way in (RFC 3550 cumulative loss)',
    [],
    (t) => [[{}, t.lost]],
  );
  readonly sipRtpLate = this.sipCounter('legway_sip_rtp_late_packets_total', 'RTP packets of SIP legs that came after their time was played', [], (t) => [
    [{}, t.late],
  ]);
  readonly sipRtpConcealed = this.sipCounter('legway_sip_rtp_concealed_seconds_total', 'Audio of SIP legs made up for lost packets', [], (t) => [
    [{}, t.concealedSeconds],
  ]);
  readonly sipRtpDropped = this.sipCounter('legway_sip_rtp_dropped_packets_total', 'RTP datagrams of SIP legs dropped, by reason', ['reason'], (t) => [
    [{ reason: 'wrong_source' }, t.droppedWrongSource],
    [{ reason: 'probation' }, t.droppedProbation],
    [{ reason: 'malformed' }, t.malformed],
    [{ reason: 'unknown_payload_type' }, t.unknownPayloadType],
  ]);
  readonly sipRtcpReports = this.sipCounter('legway_sip_rtcp_reports_total', 'RTCP reports of SIP legs, by direction', ['direction'], (t) => [
    [{ direction: 'in' }, t.rtcpIn],
    [{ direction: 'out' }, t.rtcpOut],
  ]);
  readonly sipRtpJitter = this.sipGauge('legway_sip_rtp_jitter_max_seconds', 'Largest interarrival jitter among the SIP legs running now', [], (t, g) =>
    g.set(t.maxJitterSeconds),
  );

  /** Tells the SIP media metrics where to read their totals (running legs and ended ones). */
  countSipMediaWith(source: () => SipMediaTotals): void {
    this.sipMediaSource = source;
  }

  /**
   * A counter whose value is read from the SIP media totals when scraped. It never goes back: RFC
   * 3550's cumulative loss, for one, shrinks when a late packet turns up, which Prometheus would
   * take for a restart.
   */
  private sipCounter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    values: (t: SipMediaTotals) => [Partial<Record<L, string>>, number][],
  ): Counter<L> {
    const source = (): SipMediaTotals | undefined => this.sipMediaSource?.();
    const shown = new Map<string, number>();
    const counter: Counter<L> = new Counter<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => {
        const totals = source();
        if (!totals) return;
        for (const [labels, value] of values(totals)) {
          const key = JSON.stringify(labels);
          const before = shown.get(key) ?? 0;
          if (value <= before) continue;
          shown.set(key, value);
          counter.inc(labels, value - before);
        }
      },
    });
    return counter;
  }

  private sipGauge<L extends string>(name: string, help: string, labelNames: readonly L[], fill: (t: SipMediaTotals, g: Gauge<L>) => void): Gauge<L> {
    const source = (): SipMediaTotals | undefined => this.sipMediaSource?.();
    const gauge: Gauge<L> = new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => {
        const totals = source();
        if (totals) fill(totals, gauge);
      },
    });
    return gauge;
  }

  /** Tells the queue-depth gauge where to read the webhook queue depths. */
  countWebhookQueueWith(source: () => { pending: number; failed: number }): void {
    this.webhookQueueSource = source;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'legway_' });
  }

  /** Labels every series with this node's id (`node="…"`), so a cluster's nodes can be told apart where their metrics meet. */
  labelNode(nodeId: string): void {
    this.registry.setDefaultLabels({ node: nodeId });
  }
}
