import { pino, type Logger } from 'pino';

/** Paths pino blanks wherever they appear, so tokens and secrets never reach a log line. */
const REDACT = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'auth.token',
  'secret',
  '*.secret',
  'signatureSecret',
  '*.signatureSecret',
  'databaseUrl',
  '*.databaseUrl',
];

/** The process logger; components take `logger.child({ component })`, legs and conversations their own child. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'legway' } };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
