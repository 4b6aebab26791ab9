import { z } from 'zod';

/**
 * LEGWAY_DATABASE_URL: a `postgres://` or `postgresql://` URL, as libpq reads it. It may carry a
 * password, so it is never logged or echoed: problems name the setting, not its value, and logs
 * show `describeDatabaseUrl`'s form.
 */
export const databaseUrl = z
  .string()
  .trim()
  .refine((value) => databaseUrlProblem(value) === undefined, {
    error: (issue) => databaseUrlProblem(String(issue.input)) ?? 'invalid',
  });

function databaseUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'expected a postgres:// or postgresql:// URL, e.g. postgres://legway@db.example:5432/legway';
  }
  // Host, port and database may be left to libpq's defaults (the local socket, the user's name).
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') return 'must start with postgres:// or postgresql://';
  return undefined;
}

/** The URL without its password, for logs: `postgres://legway@db.example:5432/legway`. */
export function describeDatabaseUrl(value: string): string {
  const url = new URL(value);
  url.password = '';
  url.search = '';
  return url.toString();
}
