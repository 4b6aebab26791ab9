import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './configError.js';

export interface Identity {
  secret: string;
  secretSource: 'config' | 'generated' | 'data-dir';
  applicationId: string;
}

const SECRET_FILE = 'secret';
const APPLICATION_ID_FILE = 'application_id';

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

/** Resolves the token secret and application id: configured values win, else those kept in the data folder. */
export function resolveIdentity(dataDir: string, secret: string | undefined, applicationId: string | undefined): Identity {
  let resolvedSecret = secret;
  let secretSource: Identity['secretSource'] = 'config';
  if (resolvedSecret === undefined) {
    const kept = keptValue(dataDir, SECRET_FILE, () => randomBytes(32).toString('base64url'));
    if (kept.value.length < 32) {
      throw new ConfigError([`${join(dataDir, SECRET_FILE)}: kept secret is shorter than 32 characters; delete it or set LEGWAY_SECRET`]);
    }
    resolvedSecret = kept.value;
    secretSource = kept.created ? 'generated' : 'data-dir';
  }
  const resolvedAppId = applicationId ?? keptValue(dataDir, APPLICATION_ID_FILE, () => randomUUID()).value;
  return { secret: resolvedSecret, secretSource, applicationId: resolvedAppId };
}
