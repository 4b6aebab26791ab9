import { z } from 'zod';
import { databaseUrl } from './databaseUrl.js';
import { port, nonEmpty, cidrList, sipRoutes, sipCodecs, portRange, hostPort, httpUrl, boolean, duration, logLevel } from './valueTypes.js';
import { DEFAULT_SIP_CODECS, type SipCodecName } from '../media/codecs/sipCodecs.js';

/**
 * The one configuration schema. Keys are snake_case; each key `foo_bar` is read from the flag
 * `--foo-bar`, the environment variable `LEGWAY_FOO_BAR` and the config file's `"foo_bar"`.
 * The environment names of the public configuration contract (README, Configuration) are all here.
 */

/** Raw input schema: what flags, environment and file may set, with the embedded defaults. */
export const configInputSchema = z.strictObject({
  host: nonEmpty.default('0.0.0.0'),
  http_port: port.default(3000),
  data_dir: nonEmpty.default('./data'),
  secret: z.string().min(32, 'must be at least 32 characters (HS256 needs a 256-bit key)').optional(),
  application_id: z.string().trim().min(1).max(200).optional(),
  event_url: httpUrl.optional(),
  signature_secret: z.string().min(32, 'must be at least 32 characters').optional(),
  answer_url: httpUrl.optional(),
  sip_host: nonEmpty.default('0.0.0.0'),
  sip_port: port.default(5060),
  sip_trunks: cidrList.default(['127.0.0.1/32']),
  sip_routes: sipRoutes.default([]),
  /** Whether to run SIP at all (tests and WebRTC-only deployments turn it off). */
  sip_enabled: boolean.default(true),
  /** Seconds without RTP before a SIP call is hung up. */
  sip_rtp_timeout_s: z.coerce.number().int().min(0).max(3600).default(30),
  ringback: z.enum(['us', 'eu', 'off']).default('us'),
  sip_answer_delay_ms: z.coerce.number().int().min(0).max(60_000).default(0),
  sip_max_calls: z.coerce.number().int().min(1).max(100_000).default(500),
  /** Legs at once, WebRTC and SIP together (unset: no limit beyond LEGWAY_SIP_MAX_CALLS); more are refused. */
  max_legs: z.coerce.number().int().min(1).max(1_000_000).optional(),
  /** Main-thread busy share (0–1) above which new legs are refused; 1 turns the load check off. */
  admission_max_load: z.coerce.number().min(0.1).max(1).default(0.9),
  /** Callers outside the trunks admitted by digest authentication: `user:password,…`. */
  sip_callers: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part.length > 0),
    )
    .pipe(z.array(z.string().regex(/^[^:\s]{1,64}:\S{8,256}$/, 'expected USER:PASSWORD, the password of 8 characters or more')))
    .default([]),
  sip_realm: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[^"\\]+$/, 'must not contain quotes or backslashes')
    .default('legway'),
  /** Digest credentials for trunks that challenge our outbound calls. */
  sip_username: z.string().min(1).max(128).optional(),
  sip_password: z.string().min(1).max(256).optional(),
  sip_codecs: sipCodecs.default([...DEFAULT_SIP_CODECS]),
  /** Mean interval of the RTCP reports SIP legs send (RFC 3550 suggests 5 s). */
  sip_rtcp_interval_ms: z.coerce.number().int().min(500).max(60_000).default(5000),
  rtp_ports: portRange.default({ min: 20000, max: 29999 }),
  media_dir: nonEmpty.default('./media'),
  mediasoup_worker: nonEmpty.optional(),
  log_level: logLevel.default('info'),
  /** The browser pages' development login (`POST /dev/login`): loopback peers only, user tokens only. */
  dev_login: boolean.default(false),
  // Additions beside the public contract's keys:
  sqlite_synchronous: z.enum(['full', 'normal']).default('full'),
  /** Group commit: the writes of one event-loop turn (or of this window) share one transaction and one fsync. */
  sqlite_group_commit: boolean.default(true),
  sqlite_commit_window_ms: z.coerce.number().int().min(0).max(2).default(0),
  /** Under load, at most one WAL sync per this many ms, shared by the commits in between (0: as soon as possible). */
  sqlite_sync_spacing_ms: z.coerce.number().int().min(0).max(20).default(8),
  /** A PostgreSQL database to keep the store in instead of the data folder's SQLite file (never logged). */
  database_url: databaseUrl.optional(),
  body_limit: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  rest_rate_limit: z.coerce.number().int().min(1).default(1200),
  socket_rate_limit: z.coerce.number().int().min(1).default(20),
  token_rate_limit: z.coerce.number().int().min(1).default(50),
  /** Longest lifetime (`exp - iat`) a token may have; longer ones, and tokens without `iat`, are refused. */
  token_max_ttl: duration.default(24 * 3600),
  /** WebRTC legs one member may hold at once (each holds a router, a transport and ports). */
  max_legs_per_member: z.coerce.number().int().min(1).max(1000).default(4),
  /** WebRTC legs one conversation may hold at once. */
  max_legs_per_conversation: z.coerce.number().int().min(1).max(100_000).default(50),
  /** Current (invited or joined) members one conversation may have. */
  max_members_per_conversation: z.coerce.number().int().min(1).max(1_000_000).default(200),
  /** Socket connections one token subject may hold at once, over both namespaces. */
  max_sockets_per_subject: z.coerce.number().int().min(1).max(100_000).default(10),
  /** Socket connections one remote address may hold at once, over both namespaces. */
  max_sockets_per_ip: z.coerce.number().int().min(1).max(1_000_000).default(100),
  /** Bytes waiting to be sent to one socket past which it is disconnected (a client that stopped reading). */
  socket_max_buffered_bytes: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .max(1024 * 1024 * 1024)
    .default(4 * 1024 * 1024),
  /** Events a join's replay sends before it waits for the socket to drain. */
  replay_page_events: z.coerce.number().int().min(1).max(10_000).default(200),
  /** Knocks one user may make per minute, over all conversations. */
  knock_rate_limit: z.coerce.number().int().min(1).max(10_000).default(10),
  ttl_sweep_seconds: z.coerce.number().int().min(1).max(3600).default(30),
  shutdown_timeout_ms: z.coerce.number().int().min(0).max(120_000).default(10_000),
  /** When set, `/metrics` answers only `Authorization: Bearer <this>` (a scraper's credential, not a JWT). */
  metrics_token: z
    .string()
    .min(16, 'must be at least 16 characters')
    .max(1024)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces (it is sent in an HTTP header)')
    .optional(),
  /** `HOST:PORT` of a listener of its own for `/metrics`; when set, the main port does not serve it. */
  metrics_listen: hostPort.optional(),
  /** Redis of a cluster: fan-out of events and requests between the nodes (socket.io's Redis streams adapter). */
  redis_url: z
    .url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' })
    .max(2048)
    .optional(),
  /** The address this node's clients and trunks reach its media and SIP on (ICE candidates, SDP c=, Contact). */
  announced_ip: z.union([z.ipv4(), z.ipv6()]).optional(),
  /** This node's name in a cluster; generated once and kept in the data folder when unset. */
  node_id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, dot, dash and underscore, at most 64, starting with a letter or digit')
    .optional(),
  /** Seconds a node's lease in the shared store lasts without renewal (renewed every third of it); past it the node counts as lost. */
  node_lease_s: z.coerce.number().int().min(3).max(300).default(10),
  rtc_listen_ip: z.union([z.ipv4(), z.ipv6()]).default('0.0.0.0'),
  rtc_announced_address: nonEmpty.optional(),
  rtc_connect_timeout_ms: z.coerce.number().int().min(1000).max(120_000).default(20_000),
  /** Seconds a connected WebRTC leg's ICE may stay disconnected (the peer gone silent) before the leg is ended. */
  rtc_disconnect_grace_s: z.coerce.number().int().min(1).max(3600).default(10),
  media_workers: z.coerce.number().int().min(1).max(64).optional(),
  /** Most speakers each conversation's audio bridge mixes at once: the loudest of those speaking. */
  bridge_max_speakers: z.coerce.number().int().min(1).max(16).default(3),
  /** Threads the audio bridges (and their legs' audio sockets) run on, off the main thread; one per core by default. */
  media_threads: z.coerce.number().int().min(1).max(64).optional(),
  /** Nice value (−20 highest … 19 lowest) of the media threads and mediasoup workers; raising priority needs CAP_SYS_NICE. */
  media_priority: z.coerce.number().int().min(-20).max(19).default(-10),
  webhook_all_events: boolean.default(false),
  webhook_timeout_ms: z.coerce.number().int().min(100).max(120_000).default(5000),
  webhook_retry_base_ms: z.coerce.number().int().min(10).max(3_600_000).default(1000),
  webhook_retry_max_ms: z.coerce.number().int().min(10).max(86_400_000).default(600_000),
  webhook_give_up_after_s: z.coerce
    .number()
    .int()
    .min(1)
    .max(30 * 86_400)
    .default(86_400),
  webhook_concurrency: z.coerce.number().int().min(1).max(256).default(64),
  media_max_bytes: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(50 * 1024 * 1024),
  media_fetch_timeout_ms: z.coerce.number().int().min(100).max(600_000).default(10_000),
  media_allow_private_urls: boolean.default(false),
  tts_binary: nonEmpty.default('espeak-ng'),
  tts_timeout_ms: z.coerce.number().int().min(100).max(600_000).default(10_000),
  tts_max_text: z.coerce.number().int().min(1).max(100_000).default(2000),
});

export type ConfigKey = keyof typeof configInputSchema.shape;

/** Every key, in the order of the table in README. */
export const CONFIG_KEYS = Object.keys(configInputSchema.shape) as ConfigKey[];

/** Environment variable of a key (`http_port` → `LEGWAY_HTTP_PORT`). */
export function envName(key: ConfigKey): string {
  return `LEGWAY_${key.toUpperCase()}`;
}

/** Command-line flag of a key (`http_port` → `--http-port`). */
export function flagName(key: ConfigKey): string {
  return key.replaceAll('_', '-');
}

type Parsed = z.output<typeof configInputSchema>;

/** The frozen configuration the application receives. Secrets are always resolved here. */
export interface Config {
  readonly host: string;
  readonly httpPort: number;
  readonly dataDir: string;
  readonly secret: string;
  readonly secretSource: 'config' | 'generated' | 'data-dir';
  readonly applicationId: string;
  readonly eventUrl: string | undefined;
  /** HS256 secret of webhook signatures: configured or kept in the data dir, never the token secret. */
  readonly signatureSecret: string;
  readonly answerUrl: string | undefined;
  readonly sipHost: string;
  readonly sipPort: number;
  readonly sipTrunks: readonly string[];
  /** Static routes of dialled users to conversation names (`*` matches any); tried before `answerUrl`. */
  readonly sipRoutes: readonly { user: string; conversation: string }[];
  readonly sipEnabled: boolean;
  readonly sipRtpTimeoutS: number;
  /** Ringback the conversation hears while an outbound call rings: North American, European, or none. */
  readonly ringback: 'us' | 'eu' | 'off';
  /** How long an inbound SIP call rings (180) before the gateway answers it. */
  readonly sipAnswerDelayMs: number;
  /** SIP calls (inbound and outbound) at once; more are refused with 503. */
  readonly sipMaxCalls: number;
  readonly maxLegs: number | undefined;
  readonly admissionMaxLoad: number;
  /** Callers outside the trunks who may call with digest authentication (never logged). */
  readonly sipCallers: { readonly realm: string; readonly users: ReadonlyMap<string, string> };
  /** Digest credentials outbound calls answer a trunk's 401/407 with (never logged). */
  readonly sipCredentials: { readonly username: string; readonly password: string } | undefined;
  /** SIP codecs offered and accepted, in preference order (`LEGWAY_SIP_CODECS`). */
  readonly sipCodecs: readonly SipCodecName[];
  /** Mean interval of SIP legs' RTCP reports. */
  readonly sipRtcpIntervalMs: number;
  readonly rtpPorts: { readonly min: number; readonly max: number };
  readonly mediaDir: string;
  /** Path of mediasoup's worker binary: configured, or the one the install step builds. */
  readonly mediasoupWorker: string;
  readonly mediasoupWorkerConfigured: boolean;
  /** The address this node announces for its media and SIP (`LEGWAY_ANNOUNCED_IP`), when set. */
  readonly announcedIp: string | undefined;
  /** This node in a cluster: its id, its lease, and the Redis the nodes share (none: a single process). */
  readonly cluster: ClusterConfig;
  readonly rtc: {
    readonly listenIp: string;
    readonly announcedAddress: string | undefined;
    readonly connectTimeoutMs: number;
    /** How long a connected leg's ICE may stay disconnected before the leg is ended. */
    readonly disconnectGraceMs: number;
    readonly workers: number | undefined;
  };
  /** Most speakers a conversation's audio bridge mixes at once (`LEGWAY_BRIDGE_MAX_SPEAKERS`). */
  readonly bridgeMaxSpeakers: number;
  /** Media threads running the audio bridges (`LEGWAY_MEDIA_THREADS`; the number of cores by default, at least 1). */
  readonly mediaThreads: number;
  /** Nice value the media threads and mediasoup workers ask for (`LEGWAY_MEDIA_PRIORITY`), so ticks run ahead of other work. */
  readonly mediaPriority: number;
  readonly logLevel: Parsed['log_level'];
  /** Whether `POST /dev/login` mints user tokens for loopback peers (`LEGWAY_DEV_LOGIN`). */
  readonly devLogin: boolean;
  /** Longest token lifetime accepted and minted, in seconds (`LEGWAY_TOKEN_MAX_TTL`). */
  readonly tokenMaxTtlSeconds: number;
  readonly production: boolean;
  readonly sqliteSynchronous: Parsed['sqlite_synchronous'];
  /** Milliseconds a group commit collects writes (0: to the end of the event-loop turn); undefined: no group commit. */
  readonly sqliteCommitWindowMs: number | undefined;
  /** Under load, milliseconds between the starts of WAL syncs at the least (0: sync as soon as possible). */
  readonly sqliteSyncSpacingMs: number;
  /** PostgreSQL URL of the store (`LEGWAY_DATABASE_URL`); undefined: the data folder's SQLite file. May hold a password: never logged. */
  readonly databaseUrl: string | undefined;
  readonly bodyLimit: number;
  readonly restRateLimit: number;
  readonly socketRateLimit: number;
  readonly tokenRateLimit: number;
  readonly limits: LimitsConfig;
  readonly ttlSweepSeconds: number;
  readonly shutdownTimeoutMs: number;
  /** Who may read `/metrics`, and where it is served (README, Health and metrics). */
  readonly metrics: MetricsConfig;
  readonly webhook: WebhookConfig;
  /** Largest media file or download `play` accepts, in bytes. */
  readonly mediaMaxBytes: number;
  /** Time allowed for one media URL fetch, connect to last byte. */
  readonly mediaFetchTimeoutMs: number;
  /** Whether `play` may fetch URLs on loopback and private networks (off: no requests into the gateway's own network). */
  readonly mediaAllowPrivateUrls: boolean;
  readonly tts: TtsConfig;
}

/** What one client may grow: legs, members, connections, buffers, replays and knocks. */
export interface LimitsConfig {
  readonly legsPerMember: number;
  readonly legsPerConversation: number;
  readonly membersPerConversation: number;
  readonly socketsPerSubject: number;
  readonly socketsPerIp: number;
  readonly socketMaxBufferedBytes: number;
  readonly replayPageEvents: number;
  /** Knocks per user per minute. */
  readonly knocksPerMinute: number;
}

/** A node of a cluster: who it is, how long its lease lasts, and the Redis it shares with the others. */
export interface ClusterConfig {
  readonly nodeId: string;
  readonly leaseMs: number;
  /** `LEGWAY_REDIS_URL` (never logged: it may hold a password); undefined: no fan-out between nodes. */
  readonly redisUrl: string | undefined;
}

/** Event webhook delivery: where, which events, and the retry schedule. */
export interface WebhookConfig {
  readonly allEvents: boolean;
  readonly timeoutMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly giveUpAfterMs: number;
  readonly concurrency: number;
}

/** `/metrics`: the scrapers' bearer token and the listener of its own, each optional. */
export interface MetricsConfig {
  /** Never logged. */
  readonly token: string | undefined;
  readonly listen: { readonly host: string; readonly port: number } | undefined;
}

/** Text to speech (`say`): the espeak-ng binary and its limits. */
export interface TtsConfig {
  readonly binary: string;
  readonly timeoutMs: number;
  readonly maxTextLength: number;
}

export type ParsedConfigInput = Parsed;
