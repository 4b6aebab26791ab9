import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './configError.js';

export interface Identity {
  secret: string;
  secretSource: 'config' | 'generated' | 'data-dir';
  applicationId: string;
  /** HS256 secret of webhook signatures; never equal to `secret`. */
  signatureSecret: string;
}

const SECRET_FILE = 'secret';
const APPLICATION_ID_FILE = 'application_id';
const SIGNATURE_SECRET_FILE = 'signature_secret';

/**
 * Reads a value kept in the data folder, or creates it once. `wx` makes creation atomic, so a
 * `legway token` and a `legway serve` started together still agree on one value.
 */
function keptValue(dataDir: string, file: string, create: () => string): { value: string; created: boolean } {
  const path = join(dataDir, file);
  try {
    return { value: readFileSync(path, 'utf8').trim(), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError([`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
  }
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const value = create();
    writeFileSync(path, `${value}\n`, { flag: 'wx', mode: 0o600 });
    return { value, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      return { value: readFileSync(path, 'utf8').trim(), created: false };
    }
    throw new ConfigError([`${path}: cannot be written (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
}

/** A secret of 32 random bytes, as kept in the data folder. */
const newSecret = (): string => randomBytes(32).toString('base64url');

/** A secret kept in the data folder, refused when it is too short to be one. */
function keptSecret(dataDir: string, file: string, variable: string): { value: string; created: boolean } {
  const kept = keptValue(dataDir, file, newSecret);
  if (kept.value.length < 32) {
    throw new ConfigError([`${join(dataDir, file)}: kept secret is shorter than 32 characters; delete it or set ${variable}`]);
  }
  return kept;
}

/**
 * Resolves the token secret, the application id and the webhook signature secret: configured
 * values win, else those kept in the data folder. The two secrets must differ: a webhook receiver
 * holds the signature secret, and must not be able to mint tokens with it.
 */
export function resolveIdentity(dataDir: string, secret: string | undefined, applicationId: string | undefined, signatureSecret: string | undefined): Identity {
  let resolvedSecret = secret;
  let secretSource: Identity['secretSource'] = 'config';
  if (resolvedSecret === undefined) {
    const kept = keptSecret(dataDir, SECRET_FILE, 'LEGWAY_SECRET');
    resolvedSecret = kept.value;
    secretSource = kept.created ? 'generated' : 'data-dir';
  }
  const resolvedAppId = applicationId ?? keptValue(dataDir, APPLICATION_ID_FILE, () => randomUUID()).value;
  const resolvedSignatureSecret = signatureSecret ?? keptSecret(dataDir, SIGNATURE_SECRET_FILE, 'LEGWAY_SIGNATURE_SECRET').value;
  if (resolvedSignatureSecret === resolvedSecret) {
    throw new ConfigError([
      'LEGWAY_SIGNATURE_SECRET must differ from LEGWAY_SECRET: every webhook receiver holds the signature secret, and with the token secret it could mint tokens',
    ]);
  }
  return { secret: resolvedSecret, secretSource, applicationId: resolvedAppId, signatureSecret: resolvedSignatureSecret };
}

const NODE_ID_FILE = 'node_id';

/** This node's cluster id when none is configured: made once (`node-` and 8 hex digits) and kept in the data folder. */
export function keptNodeId(dataDir: string): string {
  return keptValue(dataDir, NODE_ID_FILE, () => `node-${randomBytes(4).toString('hex')}`).value;
}
