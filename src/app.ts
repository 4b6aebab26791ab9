import { Admission, mediaAwareSampler } from './services/admission.js';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { TokenVerifier } from './auth/tokens.js';
import type { Config } from './config/schema.js';
import { EventLog } from './events/eventLog.js';
import { startMetricsServer, type MetricsServer } from './interfaces/http/metricsServer.js';
import { buildHttp } from './interfaces/http/server.js';
import { ConversationFeed } from './interfaces/socket/conversationFeed.js';
import { clientsFlushed, createSocketServer, type LegwayIo } from './interfaces/socket/server.js';
import { systemClock, type Clock } from './lib/clock.js';
import type { MediaEngine } from './media/engine.js';
import { startMediaEngine } from './media/mediasoup/configuredEngine.js';
import { MediaThreads } from './media/threads/mediaThreads.js';
import { Metrics } from './observability/metrics.js';
import { Access } from './services/access.js';
import { LegLimits } from './services/legLimits.js';
import { LimitWarnings } from './services/limitWarnings.js';
import { ConversationService } from './services/conversationService.js';
import { EventService } from './services/eventService.js';
import { LegService } from './services/legService.js';
import { TransferService } from './services/transferService.js';
import { TokenRevocations } from './services/tokenRevocations.js';
import { disconnectRevoked } from './interfaces/socket/revocation.js';
import { KnockingService } from './services/knockingService.js';
import { PlaybackService } from './services/playbackService.js';
import { RecorderService } from './services/recorderService.js';
import { MediaLoader } from './media/sources/mediaLoader.js';
import { SpeechSynth } from './media/sources/speech.js';
import { DecodePool } from './media/sources/decodePool.js';
import { advertisedHostFor, SipServer, sipServerOptions } from './sip/sipServer.js';
import { askJson } from './services/sip/answerUrl.js';
import { SipLegService } from './services/sipLegService.js';
import { MemberService } from './services/memberService.js';
import { RecordingService, recoverRecordings } from './services/recordingService.js';
import { WebhookService } from './services/webhookService.js';
import type { Services } from './services/services.js';
import { Store } from './store/store.js';
import { endLostNode } from './cluster/lostNode.js';
import { NodeLease } from './cluster/nodeLease.js';
import { connectRedis, type RedisLink } from './cluster/redisLink.js';
import { joinCluster } from './cluster/joinCluster.js';
import { WebhookLeader } from './cluster/webhookLeader.js';
import { CommittedEvents } from './interfaces/socket/committedEvents.js';
import { setUpWebhooks, type Webhooks } from './webhooks/webhooks.js';

/** How often revocations recorded by other processes are picked up. */
const REVOCATION_SYNC_MS = 2000;

export interface AppOptions {
  logger: Logger;
  clock?: Clock;
  /** The media engine; by default mediasoup with the configured worker (none when it is missing). */
  engine?: MediaEngine | null;
}

/** A running gateway: its parts, the address it listens on, and an idempotent close. */
export interface App {
  readonly config: Config;
  readonly store: Store;
  readonly services: Services;
  readonly eventLog: EventLog;
  /** Every node's committed events, as this node's sockets receive them. */
  readonly committed: CommittedEvents;
  readonly http: FastifyInstance;
  readonly io: LegwayIo;
  readonly metrics: Metrics;
  readonly webhooks: Webhooks;
  readonly legs: LegService;
  /** The media threads the audio bridges run on (none with a given media engine). */
  readonly mediaThreads: MediaThreads | undefined;
  /** The SIP server (UDP and TCP), unless SIP is off (`LEGWAY_SIP_ENABLED=false`). */
  readonly sip: SipServer | undefined;
  /** The bound port of the /metrics listener of its own (`LEGWAY_METRICS_LISTEN`), once listening. */
  readonly metricsPort: number | undefined;
  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number>;
  close(): Promise<void>;
}

/** The composition root: the only place that picks the store, builds services and wires interfaces. */
export async function createApp(config: Config, options: AppOptions): Promise<App> {
  const logger = options.logger;
  const clock = options.clock ?? systemClock;
  const metrics = new Metrics();
  // In a cluster (nodes sharing Redis) every series carries its node; a gateway on its own keeps its series as they were.
  if (config.cluster.redisUrl !== undefined) metrics.labelNode(config.cluster.nodeId);
  const store = Store.open(config.dataDir, {
    nodeId: config.cluster.nodeId,
    synchronous: config.sqliteSynchronous,
    commitWindowMs: config.sqliteCommitWindowMs,
    syncSpacingMs: config.sqliteSyncSpacingMs,
    databaseUrl: config.databaseUrl,
    // What the failed group held was never announced, but the legs and members in memory may have
    // moved on without it: stop rather than run on a state the store does not have.
    onCommitFailure: (err) => {
      logger.fatal({ err }, 'a store commit failed; stopping');
      process.exitCode = 1;
      process.kill(process.pid, 'SIGTERM');
    },
    onWarning: (message) => logger.warn(message),
    commitObserver: metrics.storeCommits,
  });
  const eventLog = new EventLog(store, clock, (err) => logger.error({ err }, 'event listener failed'));
  const ctx = { store, log: eventLog, clock, logger };
  const access = new Access(store);
  // One record of tripped limits, so each is logged once a minute per key whatever refused it.
  const limitWarnings = new LimitWarnings(logger.child({ component: 'limits' }), () => clock.now().getTime());
  const recordingsDir = join(config.dataDir, 'recordings');
  const recovered = await recoverRecordings(store, recordingsDir, clock.now());
  if (recovered.finished.length + recovered.failed.length > 0)
    logger.warn(recovered, 'recordings cut off by the last stop: finished from their files, or failed');
  const recordings = new RecordingService(ctx, access, recordingsDir);
  const webhooks = setUpWebhooks({ config, store, log: eventLog, clock, metrics, logger });
  // The audio bridges run on media threads, except with a media engine given as it is (a fake for
  // tests of legs), whose endpoints have no sockets a thread could own.
  const threads = options.engine
    ? undefined
    : new MediaThreads(config.mediaThreads, config.logLevel, logger.child({ component: 'media-threads' }), config.mediaPriority);
  const engine = options.engine === undefined ? await startMediaEngine(config, logger, threads) : (options.engine ?? undefined);
  // With media, the threads are loaded before the gateway listens, not by its first calls.
  if (engine && threads) await threads.warm();
  const admission: Admission = new Admission(
    { maxLegs: config.maxLegs, maxLoad: config.admissionMaxLoad, sampleMs: 1000 },
    (): number => legs.activeWebRtc + sipLegs.admittedCalls,
    mediaAwareSampler(threads),
  );
  const legs = new LegService(ctx, access, engine, {
    connectTimeoutMs: config.rtc.connectTimeoutMs,
    disconnectGraceMs: config.rtc.disconnectGraceMs,
    admission,
    bridgeMaxSpeakers: config.bridgeMaxSpeakers,
    threads,
    limits: new LegLimits(config.limits.legsPerMember, config.limits.legsPerConversation, limitWarnings),
  });
  const members = new MemberService(ctx, access, legs, { maxPerConversation: config.limits.membersPerConversation, warnings: limitWarnings });
  // A SIP member is its call: one whose call the last stop cut off leaves with it.
  for (const lost of legs.recoverLostLegs()) {
    if (lost.type === 'sip' && !legs.memberHasLegs(lost.member_id)) members.leaveMember(lost.member_id, 'sip', 'gateway restarted');
  }
  const conversations = new ConversationService(ctx, access, members, legs);
  const decoder = new DecodePool();
  const loader = new MediaLoader({
    decoder,
    mediaDir: config.mediaDir,
    maxBytes: config.mediaMaxBytes,
    timeoutMs: config.mediaFetchTimeoutMs,
    allowPrivateUrls: config.mediaAllowPrivateUrls,
  });
  const playback = new PlaybackService(ctx, access, legs, loader, new SpeechSynth({ ...config.tts, decoder }));
  const recorder = new RecorderService(ctx, access, legs, recordings);
  let sip: SipServer | undefined;
  const sipLegs = new SipLegService(ctx, access, conversations, members, legs, {
    rtpIp: config.sipHost,
    advertisedAddress: advertisedHostFor(config.sipHost),
    rtpPorts: config.rtpPorts,
    routes: config.sipRoutes,
    answerUrl: config.answerUrl,
    askAnswerUrl: askJson,
    rtpTimeoutMs: config.sipRtpTimeoutS * 1000,
    ackTimeoutMs: 32_000,
    ringback: config.ringback,
    answerDelayMs: config.sipAnswerDelayMs,
    maxCalls: config.sipMaxCalls,
    admission,
    codecs: config.sipCodecs,
    rtcpIntervalMs: config.sipRtcpIntervalMs,
    threads,
  });
  metrics.countSipMediaWith(() => sipLegs.mediaTotals());
  if (config.sipEnabled) {
    sip = await SipServer.start(sipServerOptions(config, logger));
    await sipLegs.prepareMedia();
    sip.setInviteHandler((invite) => sipLegs.onInvite(invite));
    sipLegs.attach(sip);
  }
  playback.sendRfc4733With((legId, digits) => sipLegs.sendDtmf(legId, digits));
  const tokens = new TokenRevocations(store, clock, (err) => logger.error({ err }, 'token revocation listener failed'));
  const services: Services = {
    tokens,
    members,
    legs,
    transfers: new TransferService(conversations, members, legs),
    knocking: new KnockingService(ctx, access, members, { perMinute: config.limits.knocksPerMinute, warnings: limitWarnings }),
    conversations,
    events: new EventService(ctx, access),
    webhooks: new WebhookService(
      ctx,
      access,
      () => webhooks.dispatcher?.kick(),
      () => webhooks.dispatcher?.writeOutcomes(),
    ),
    recordings,
    playback,
    recorder,
    sipLegs,
  };
  const verifier = new TokenVerifier({
    secret: config.secret,
    applicationId: config.applicationId,
    maxTtlSeconds: config.tokenMaxTtlSeconds,
    revoked: tokens,
    now: () => clock.now(),
  });

  let closing = false;
  let listening = false;
  const http = await buildHttp({
    logger,
    services,
    verifier,
    metrics,
    bodyLimit: config.bodyLimit,
    restRateLimit: config.restRateLimit,
    devLogin: config.devLogin
      ? { secret: config.secret, applicationId: config.applicationId, maxTtlSeconds: config.tokenMaxTtlSeconds, now: () => clock.now() }
      : undefined,
    // With a listener of its own, /metrics is served there only; else here, to this host or with a token.
    metricsAccess:
      config.metrics.listen !== undefined
        ? undefined
        : config.metrics.token !== undefined
          ? { kind: 'token', token: config.metrics.token }
          : { kind: 'local', verifier },
    readiness: {
      problems: () => [...(closing ? ['shutting down'] : []), ...(listening ? [] : ['not listening']), ...(store.ping() ? [] : ['store unavailable'])],
    },
  });

  const feed = new ConversationFeed(services.events, logger.child({ component: 'feed' }), config.limits.replayPageEvents);
  // Every node's committed events: this node's, and in a cluster the others' relayed over Redis.
  const committed = new CommittedEvents(logger.child({ component: 'relay' }));
  eventLog.onCommitted((event) => {
    metrics.eventsAppended.inc({ family: event.type.split(':')[0] ?? event.type });
    committed.local(event);
  });
  committed.subscribe((event) => feed.publish(event));
  const redis: RedisLink | undefined = config.cluster.redisUrl ? await connectRedis(config.cluster.redisUrl, logger.child({ component: 'redis' })) : undefined;
  const io = createSocketServer(http.server, {
    adapter: redis?.adapter,
    logger,
    services,
    verifier,
    metrics,
    feed,
    committed: committed.subscribe,
    maxPayloadBytes: config.bodyLimit,
    socketRateLimit: config.socketRateLimit,
    tokenRateLimit: config.tokenRateLimit,
    limits: config.limits,
    warnings: limitWarnings,
  });

  if (redis) committed.relayThrough(io);
  const nodeId = config.cluster.nodeId;
  // In a cluster, a conversation's media lives on its owner: legs made, and acted on, there.
  const bus = redis ? await joinCluster({ nodeId, redis, store, clock, io, legs, sipLegs, logger }) : undefined;
  const lease = new NodeLease({
    nodeId,
    leaseMs: config.cluster.leaseMs,
    clock,
    logger: logger.child({ component: 'cluster' }),
    nodes: store.nodes,
    onDraining: () => {
      admission.drain();
      if (sip) sip.draining = true;
    },
    onLost: (node) => endLostNode({ store, legs, members }, node.id),
    onSelfLost: () => {
      process.exitCode = 1;
      process.kill(process.pid, 'SIGTERM');
    },
  });
  // In a cluster one node delivers the shared outbox at a time; a gateway on its own delivers its own.
  const webhookLeader =
    bus && webhooks.dispatcher
      ? new WebhookLeader({
          nodeId,
          nodes: store.nodes,
          dispatcher: webhooks.dispatcher,
          clock,
          logger: logger.child({ component: 'webhook' }),
          checkMs: Math.max(500, Math.floor(config.cluster.leaseMs / 3)),
          pollMs: 250,
          startDelivering: () => webhooks.start(),
        })
      : undefined;

  tokens.onRevoked((jti) => disconnectRevoked(io, jti));
  // `legway token revoke` writes to the store from another process: pick its revocations up.
  const revocationSync = setInterval(() => tokens.refresh(), REVOCATION_SYNC_MS);
  revocationSync.unref();

  const sweep = setInterval(() => {
    const expired = services.conversations.sweepExpired();
    if (expired.length > 0) logger.info({ count: expired.length }, 'deleted conversations whose ttl expired');
  }, config.ttlSweepSeconds * 1000);
  sweep.unref();

  let metricsServer: MetricsServer | undefined;
  let closed: Promise<void> | undefined;
  return {
    config,
    store,
    services,
    eventLog,
    committed,
    http,
    io,
    metrics,
    webhooks,
    legs,
    mediaThreads: threads,
    sip,
    get metricsPort() {
      return metricsServer?.port;
    },
    async listen() {
      const own = config.metrics.listen;
      if (own) metricsServer = await startMetricsServer({ ...own, token: config.metrics.token, metrics, logger });
      await http.listen({ host: config.host, port: config.httpPort });
      const port = (http.server.address() as AddressInfo).port;
      const reachable = config.announcedIp ?? advertisedHostFor(config.host);
      lease.start({
        http_url: `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${String(port)}`,
        sip_address: sip ? `${config.announcedIp ?? advertisedHostFor(config.sipHost)}:${String(sip.port)}` : null,
        media_ip: config.announcedIp ?? config.rtc.announcedAddress ?? null,
      });
      listening = true;
      if (webhookLeader) webhookLeader.start();
      else webhooks.start();
      admission.start();
      return port;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(sweep);
        clearInterval(revocationSync);
        admission.close();
        // Recordings first: their files are finished while the store is still open.
        await recorder.close();
        playback.close();
        // Set-ups in flight first (no new legs from them), then every running leg.
        await sipLegs.close();
        await legs.close();
        await sip?.close();
        // The last events of the legs must be committed (and so sent) before the sockets go.
        await store.durable();
        io.disconnectSockets(true);
        // Closing the server discards what the clients have not been sent yet (the legs' last
        // events): give each connection a moment to flush first.
        await clientsFlushed(io, 1000);
        await new Promise<void>((resolve) => {
          void io.close(() => resolve());
        });
        await bus?.close();
        await redis?.close();
        lease.close();
        await http.close();
        await metricsServer?.close();
        webhookLeader?.close();
        await webhooks.stop();
        await engine?.close();
        await threads?.close();
        await loader.close();
        await decoder.close();
        store.close();
      })();
      return closed;
    },
  };
}
