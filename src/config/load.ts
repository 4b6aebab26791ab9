import { readFileSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CONFIG_KEYS, configInputSchema, envName, type Config, type ConfigKey } from './schema.js';
import { ConfigError } from './configError.js';

/** The mediasoup release whose worker the install step builds (package.json pins the same). */
const MEDIASOUP_VERSION = '3.15.8';
import { keptNodeId, resolveIdentity } from './identity.js';

export { ConfigError };

/** Where configuration comes from; the CLI passes its flags, tests pass a crafted env. */
export interface ConfigSources {
  /** Values from command-line flags, already keyed by config key. */
  flags?: Partial<Record<ConfigKey, string>>;
  /** Process environment (only LEGWAY_*, MEDIASOUP_WORKER_BIN and NODE_ENV are read). */
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file; falls back to `env.LEGWAY_CONFIG`. */
  file?: string | undefined;
  /** Base folder for relative paths; defaults to the working directory. */
  cwd?: string;
}

function readFile(path: string, problems: string[]): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    problems.push(`config file ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push(`config file ${path}: must hold a JSON object`);
      return {};
    }
    return parsed as Record<string, unknown>;
  } catch {
    problems.push(`config file ${path}: is not valid JSON`);
    return {};
  }
}

function stringify(value: unknown): unknown {
  // File values may be numbers, arrays (sip_trunks) or strings; the schema reads strings like env does.
  if (Array.isArray(value)) return value.map(String).join(',');
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return value;
}

/** Where `scripts/mediasoup/build-worker.sh` (run by the install step) caches the worker it builds. */
function defaultWorkerPath(env: NodeJS.ProcessEnv): string {
  const cache = env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), '.cache');
  return join(cache, 'mediasoup-worker', MEDIASOUP_VERSION, 'mediasoup-worker');
}

/** Reads, merges (flags > env > file > defaults), validates and freezes the configuration. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const cwd = sources.cwd ?? process.cwd();
  const problems: string[] = [];

  const filePath = sources.file ?? env.LEGWAY_CONFIG;
  const fileValues = filePath ? readFile(resolve(cwd, filePath), problems) : {};

  const merged: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fileValues)) {
    if (!(CONFIG_KEYS as string[]).includes(key)) {
      problems.push(`config file: unknown key "${key}"`);
      continue;
    }
    merged[key] = stringify(value);
  }
  for (const key of CONFIG_KEYS) {
    const fromEnv = env[envName(key)];
    if (fromEnv !== undefined && fromEnv !== '') merged[key] = fromEnv;
  }
  if (merged.mediasoup_worker === undefined && env.MEDIASOUP_WORKER_BIN) {
    merged.mediasoup_worker = env.MEDIASOUP_WORKER_BIN;
  }
  Object.assign(merged, sources.flags);

  const parsed = configInputSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path[0];
      const where =
        typeof key === 'string' && (CONFIG_KEYS as string[]).includes(key)
          ? `${envName(key as ConfigKey)} (--${key.replaceAll('_', '-')})`
          : issue.path.join('.') || 'config';
      problems.push(`${where}: ${issue.message}`);
    }
  }
  const production = env.NODE_ENV === 'production';
  if (parsed.success && production && parsed.data.secret === undefined) {
    problems.push('LEGWAY_SECRET is required when NODE_ENV=production (the generated development secret is refused)');
  }
  if (parsed.success && production && parsed.data.dev_login) {
    // Behind a reverse proxy on the same machine every request comes from loopback.
    problems.push('LEGWAY_DEV_LOGIN cannot be on when NODE_ENV=production (it mints tokens for whoever reaches it from this machine)');
  }
  if (parsed.success && parsed.data.redis_url !== undefined && parsed.data.database_url === undefined) {
    // Nodes that share Redis but each keep their own SQLite file would relay events none of the others has.
    problems.push('LEGWAY_REDIS_URL (--redis-url): the nodes of a cluster share one store; set LEGWAY_DATABASE_URL too');
  }
  if (parsed.success && parsed.data.socket_max_buffered_bytes < 4 * parsed.data.body_limit) {
    // A replay stops at half the limit and may then send one more event of up to a body's size.
    problems.push('LEGWAY_SOCKET_MAX_BUFFERED_BYTES (--socket-max-buffered-bytes): must be at least 4 × LEGWAY_BODY_LIMIT');
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);

  const input = parsed.data;
  const dataDir = resolve(cwd, input.data_dir);
  const identity = resolveIdentity(dataDir, input.secret, input.application_id, input.signature_secret);

  const config: Config = {
    host: input.host,
    httpPort: input.http_port,
    dataDir,
    secret: identity.secret,
    secretSource: identity.secretSource,
    applicationId: identity.applicationId,
    eventUrl: input.event_url,
    signatureSecret: identity.signatureSecret,
    answerUrl: input.answer_url,
    sipHost: input.sip_host,
    sipPort: input.sip_port,
    sipTrunks: Object.freeze([...input.sip_trunks]),
    sipRoutes: Object.freeze(input.sip_routes.map((r) => Object.freeze({ ...r }))),
    sipEnabled: input.sip_enabled,
    sipRtpTimeoutS: input.sip_rtp_timeout_s,
    ringback: input.ringback,
    sipAnswerDelayMs: input.sip_answer_delay_ms,
    sipMaxCalls: input.sip_max_calls,
    maxLegs: input.max_legs,
    admissionMaxLoad: input.admission_max_load,
    sipCallers: Object.freeze({
      realm: input.sip_realm,
      users: new Map(input.sip_callers.map((pair) => [pair.slice(0, pair.indexOf(':')), pair.slice(pair.indexOf(':') + 1)] as const)),
    }),
    sipCredentials:
      input.sip_username !== undefined && input.sip_password !== undefined
        ? Object.freeze({ username: input.sip_username, password: input.sip_password })
        : undefined,
    sipCodecs: Object.freeze([...input.sip_codecs]),
    sipRtcpIntervalMs: input.sip_rtcp_interval_ms,
    rtpPorts: Object.freeze({ ...input.rtp_ports }),
    mediaDir: resolve(cwd, input.media_dir),
    mediasoupWorker: input.mediasoup_worker ?? defaultWorkerPath(env),
    mediasoupWorkerConfigured: input.mediasoup_worker !== undefined,
    announcedIp: input.announced_ip,
    cluster: Object.freeze({
      nodeId: input.node_id ?? keptNodeId(dataDir),
      leaseMs: input.node_lease_s * 1000,
      redisUrl: input.redis_url,
    }),
    rtc: Object.freeze({
      listenIp: input.rtc_listen_ip,
      // LEGWAY_RTC_ANNOUNCED_ADDRESS (a name too) wins over the node's LEGWAY_ANNOUNCED_IP.
      announcedAddress: input.rtc_announced_address ?? input.announced_ip,
      connectTimeoutMs: input.rtc_connect_timeout_ms,
      disconnectGraceMs: input.rtc_disconnect_grace_s * 1000,
      workers: input.media_workers,
    }),
    bridgeMaxSpeakers: input.bridge_max_speakers,
    mediaThreads: input.media_threads ?? Math.max(1, availableParallelism()),
    mediaPriority: input.media_priority,
    logLevel: input.log_level,
    devLogin: input.dev_login,
    tokenMaxTtlSeconds: input.token_max_ttl,
    production,
    sqliteSynchronous: input.sqlite_synchronous,
    sqliteCommitWindowMs: input.sqlite_group_commit ? input.sqlite_commit_window_ms : undefined,
    sqliteSyncSpacingMs: input.sqlite_sync_spacing_ms,
    databaseUrl: input.database_url,
    bodyLimit: input.body_limit,
    restRateLimit: input.rest_rate_limit,
    socketRateLimit: input.socket_rate_limit,
    tokenRateLimit: input.token_rate_limit,
    limits: Object.freeze({
      legsPerMember: input.max_legs_per_member,
      legsPerConversation: input.max_legs_per_conversation,
      membersPerConversation: input.max_members_per_conversation,
      socketsPerSubject: input.max_sockets_per_subject,
      socketsPerIp: input.max_sockets_per_ip,
      socketMaxBufferedBytes: input.socket_max_buffered_bytes,
      replayPageEvents: input.replay_page_events,
      knocksPerMinute: input.knock_rate_limit,
    }),
    ttlSweepSeconds: input.ttl_sweep_seconds,
    shutdownTimeoutMs: input.shutdown_timeout_ms,
    metrics: Object.freeze({
      token: input.metrics_token,
      listen: input.metrics_listen && Object.freeze({ ...input.metrics_listen }),
    }),
    webhook: Object.freeze({
      allEvents: input.webhook_all_events,
      timeoutMs: input.webhook_timeout_ms,
      retryBaseMs: input.webhook_retry_base_ms,
      retryMaxMs: Math.max(input.webhook_retry_max_ms, input.webhook_retry_base_ms),
      giveUpAfterMs: input.webhook_give_up_after_s * 1000,
      concurrency: input.webhook_concurrency,
    }),
    mediaMaxBytes: input.media_max_bytes,
    mediaFetchTimeoutMs: input.media_fetch_timeout_ms,
    mediaAllowPrivateUrls: input.media_allow_private_urls,
    tts: Object.freeze({
      binary: input.tts_binary,
      timeoutMs: input.tts_timeout_ms,
      maxTextLength: input.tts_max_text,
    }),
  };
  return Object.freeze(config);
}
