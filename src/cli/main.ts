import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ROLES, type Role } from '../auth/principal.js';
import { mintToken, parseDuration } from '../auth/tokens.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { CONFIG_KEYS, envName, flagName, type ConfigKey } from '../config/schema.js';
import { serve } from './serve.js';

const USAGE = `legway — WebRTC and SIP media-leg gateway

Usage:
  legway serve [--config FILE] [--<setting> VALUE ...]
  legway token --sub NAME [--role user|operator|application] [--ttl 24h] [--join CONVERSATION ...]
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
  const { values } = parseArgs({
    args,
    options: {
      ...configOptions,
      sub: { type: 'string' },
      role: { type: 'string', default: 'user' },
      ttl: { type: 'string', default: '24h' },
      join: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const problems: string[] = [];
  const role = values.role;
  if (!(ROLES as readonly string[]).includes(role)) problems.push(`--role must be one of ${ROLES.join(', ')}`);
  const sub = typeof values.sub === 'string' ? values.sub.trim() : role === 'application' ? 'application' : '';
  if (sub.length === 0 || sub.length > 200) problems.push('--sub NAME is required (1-200 characters)');
  const ttl = parseDuration(values.ttl);
  if (ttl === undefined) problems.push('--ttl must be a duration such as 3600, 90s, 15m, 24h or 7d (at most 366d)');
  if (problems.length > 0 || ttl === undefined) throw new ConfigError(problems);
  const file = (values as Record<string, unknown>).config;
  const config = loadConfig({ flags: configFlags(values), file: typeof file === 'string' ? file : undefined });
  const join = values.join ?? [];
  const jwt = await mintToken(config.secret, { sub, role: role as Role, ttlSeconds: ttl, applicationId: config.applicationId, join });
  process.stdout.write(`${jwt}\n`);
  return 0;
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
