import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Core } from 'sip.js';

/**
 * sip.js logs through its own LoggerFactory (to the console by default). Here its lines go to pino
 * at trace, whatever their sip.js level (kept as a field): sip.js writes URIs and message text into
 * them, and only methods, status codes and Call-ID digests may appear at debug and above.
 */
export function sipjsLoggerFactory(logger: Logger): Core.LoggerFactory {
  const factory = new Core.LoggerFactory();
  factory.builtinEnabled = false;
  // Below trace nothing of sip.js is wanted: stop it at the source.
  factory.level = logger.isLevelEnabled('trace') ? Core.Levels.debug : Core.Levels.error;
  factory.connector = (level: string, category: string, _label: string | undefined, content: unknown) => {
    logger.trace({ sipjs: category, sipjsLevel: level }, typeof content === 'string' ? content : String(content));
  };
  return factory;
}

/** A short, stable digest of a Call-ID: lets log lines of one call be joined without showing it. */
export function callIdHash(callId: string | undefined): string {
  return createHash('sha256')
    .update(callId ?? '')
    .digest('base64url')
    .slice(0, 12);
}
