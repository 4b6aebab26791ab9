import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Core } from 'sip.js';

/**
 * sip.js logs through its own LoggerFactory (to the console by default). Here its lines go to pino:
 * its chatter at trace, its warnings and errors at debug, since sip.js writes URIs and message text
 * into them, which must not appear at info.
 */
export function sipjsLoggerFactory(logger: Logger): Core.LoggerFactory {
  const factory = new Core.LoggerFactory();
  factory.builtinEnabled = false;
  const wantsDebug = logger.isLevelEnabled('debug');
  factory.level = wantsDebug ? (logger.isLevelEnabled('trace') ? Core.Levels.debug : Core.Levels.warn) : Core.Levels.error;
  factory.connector = (level: string, category: string, _label: string | undefined, content: unknown) => {
    const text = typeof content === 'string' ? content : String(content);
    if (level === 'error' || level === 'warn') logger.debug({ sipjs: category, sipjsLevel: level }, text);
    else logger.trace({ sipjs: category, sipjsLevel: level }, text);
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
