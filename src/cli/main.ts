import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ROLES, type Role } from '../auth/principal.js';
import { mintTokenWithId, subjectProblem } from '../auth/tokens.js';
import { parseDuration } from '../lib/duration.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { CONFIG_KEYS, envName, flagName, type ConfigKey } from '../config/schema.js';
import { Store } from '../store/store.js';
import { serve } from './serve.js';
import { clusterStatus, drainNode, formatStatus, openStore } from './cluster.js';

/** Lifetime of a token minted without --ttl (shortened to LEGWAY_TOKEN_MAX_TTL when that is shorter). */
const DEFAULT_TTL_SECONDS = 24 * 3600;

const USAGE = `legway — WebRTC and SIP media-leg gateway

Usage:
  legway serve [--config FILE] [--<setting> VALUE ...]
  legway token --sub NAME [--role user|operator|application] [--ttl 24h] [--join CONVERSATION ...]
  legway token revoke JTI
  legway cluster status [--json]
  legway cluster drain NODE
  legway help

Settings (flag, environment variable):
${CONFIG_KEYS.map((k) => `  --${flagName(k).padEnd(22)} ${envName(k)}`).join('\n')}
`;

const configOptions: NonNullable<ParseArgsConfig['options']> = Object.fromEntries([
  ['config', { type: 'string' }],
  ...CONFIG_KEYS.map((k) => [flagName(k), { type: 'string' }] as const),
]);

function configFlags(values: Record<string, unknown>): Partial<Record<ConfigKey, string>> {
  const flags: Partial<Record<ConfigKey, string>> = {};
  for (const key of CONFIG_KEYS) {
    const value = values[flagName(key)];
    if (typeof value === 'string') flags[key] = value;
  }
  return flags;
}

async function token(args: string[]): Promise<number> {
  if (args[0] === 'revoke') return revoke(args.slice(1));
  const { values } = parseArgs({
    args,
    options: {
      ...configOptions,
      sub: { type: 'string' },
      role: { type: 'string', default: 'user' },
      ttl: { type: 'string' },
      join: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const problems: string[] = [];
  const role = values.role;
  if (!(ROLES as readonly string[]).includes(role)) problems.push(`--role must be one of ${ROLES.join(', ')}`);
  const sub = typeof values.sub === 'string' ? values.sub.trim() : role === 'application' ? 'application' : '';
  const subProblem = subjectProblem(sub);
  if (sub.length === 0) problems.push('--sub NAME is required');
  else if (subProblem !== undefined) problems.push(`--sub ${subProblem}`);
  const ttl = values.ttl === undefined ? undefined : parseDuration(values.ttl);
  if (values.ttl !== undefined && ttl === undefined) problems.push('--ttl must be a duration such as 3600, 90s, 15m, 24h or 7d (at most 366d)');
  if (problems.length > 0) throw new ConfigError(problems);
  const file = (values as Record<string, unknown>).config;
  const config = loadConfig({ flags: configFlags(values), file: typeof file === 'string' ? file : undefined });
  const max = config.tokenMaxTtlSeconds;
  if (ttl !== undefined && ttl > max) {
    throw new ConfigError([`--ttl ${values.ttl ?? ''} is longer than LEGWAY_TOKEN_MAX_TTL (${max} s); the gateway would refuse the token`]);
  }
  const join = values.join ?? [];
  const minted = await mintTokenWithId(config.secret, {
    sub,
    role: role as Role,
    ttlSeconds: ttl ?? Math.min(DEFAULT_TTL_SECONDS, max),
    applicationId: config.applicationId,
    join,
  });
  process.stdout.write(`${minted.token}\n`);
  // stderr, so that `TOKEN=$(legway token …)` holds the token alone.
  process.stderr.write(`token id (jti) ${minted.jti}; revoke it with: legway token revoke ${minted.jti}\n`);
  return 0;
}

/** `legway token revoke JTI`: records the id in the store; a running gateway picks it up within seconds. */
function revoke(args: string[]): number {
  const { values, positionals } = parseArgs({ args, options: configOptions, strict: true, allowPositionals: true });
  const [jti, ...extra] = positionals;
  if (jti === undefined || extra.length > 0 || !/^[\x21-\x7e]{1,200}$/.test(jti)) {
    throw new ConfigError(['usage: legway token revoke JTI (the token id that legway token printed, 1-200 printable characters)']);
  }
  const file = (values as Record<string, unknown>).config;
  const config = loadConfig({ flags: configFlags(values), file: typeof file === 'string' ? file : undefined });
  const store = Store.open(config.dataDir, { synchronous: config.sqliteSynchronous, databaseUrl: config.databaseUrl });
  try {
    const created = store.transaction(() => store.revokedTokens.add(jti, new Date().toISOString()));
    process.stdout.write(created ? `revoked ${jti}\n` : `${jti} was already revoked\n`);
  } finally {
    store.close();
  }
  return 0;
}

/**
 * `legway cluster status`: the nodes sharing this store, their leases, and the conversations and
 * legs each runs. `legway cluster drain NODE`: that node takes no new calls or legs from its next
 * lease renewal (a few seconds), and answers SIP OPTIONS probes 503, while its calls finish.
 */
function cluster(args: string[]): number {
  const [sub, ...rest] = args;
  if (sub !== 'status' && sub !== 'drain') throw new ConfigError(['usage: legway cluster status [--json] | legway cluster drain NODE']);
  const { values, positionals } = parseArgs({
    args: rest,
    options: { ...configOptions, json: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: true,
  });
  if (sub === 'status' && positionals.length > 0) throw new ConfigError(['usage: legway cluster status [--json]']);
  if (sub === 'drain' && (positionals.length !== 1 || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(positionals[0] ?? ''))) {
    throw new ConfigError(['usage: legway cluster drain NODE (a node id as `legway cluster status` lists it)']);
  }
  const file = (values as Record<string, unknown>).config;
  const config = loadConfig({ flags: configFlags(values), file: typeof file === 'string' ? file : undefined });
  const store = openStore(config);
  try {
    if (sub === 'status') {
      const nodes = clusterStatus(store, Date.now());
      process.stdout.write(
        values.json
          ? `${JSON.stringify({ nodes }, null, 2)}
`
          : formatStatus(nodes),
      );
      return 0;
    }
    const nodeId = positionals[0] ?? '';
    if (!drainNode(store, nodeId)) {
      process.stderr.write(`legway: no running node "${nodeId}" (see legway cluster status)\n`);
      return 1;
    }
    process.stdout.write(`${nodeId} drains from its next lease renewal: no new calls or legs; those running go on\n`);
    return 0;
  } finally {
    store.close();
  }
}

/** Entry point of the `legway` command; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': {
        const { values } = parseArgs({ args: rest, options: configOptions, strict: true });
        return await serve(configFlags(values), values.config as string | undefined);
      }
      case 'token':
        return await token(rest);
      case 'cluster':
        return cluster(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 1 : 0;
      default:
        process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`legway: ${err.message}\n`);
      return 78; // EX_CONFIG
    }
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`legway: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}
