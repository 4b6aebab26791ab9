import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from '../lib/duration.js';
import { SIP_CODEC_NAMES } from '../media/codecs/sipCodecs.js';

/** The value types of configuration keys: ports, CIDR lists, routes, codecs, ranges, durations. */

export const port = z.coerce.number().int().min(0).max(65535);
export const nonEmpty = z.string().trim().min(1);

export function isCidr(value: string): boolean {
  const [addr, bits, ...rest] = value.split('/');
  if (addr === undefined || rest.length > 0) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  const n = Number(bits);
  return n <= (family === 4 ? 32 : 128);
}

export const cidrList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part.length > 0),
  )
  .pipe(z.array(z.string().refine(isCidr, { message: 'not an IP address or CIDR (e.g. 10.0.0.0/8)' })));

/** `user=conversation` pairs, comma-separated; `*` is the route for every other dialled user. */
export const sipRoutes = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part.length > 0),
  )
  .pipe(
    z.array(
      z
        .string()
        // eslint-disable-next-line no-control-regex -- the point is to refuse control characters in names
        .regex(/^[^=\s]{1,64}=[^=,\u0000-\u001f]{1,200}$/, 'expected USER=CONVERSATION (USER may be *)')
        .transform((pair) => {
          const at = pair.indexOf('=');
          return { user: pair.slice(0, at), conversation: pair.slice(at + 1).trim() };
        }),
    ),
  );

/** Codec names, comma-separated, in preference order; case-insensitive, each at most once. */
export const sipCodecs = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part.length > 0),
  )
  .pipe(
    z
      .array(
        z.string().transform((name, ctx) => {
          const known = SIP_CODEC_NAMES.find((codec) => codec.toLowerCase() === name.toLowerCase());
          if (known === undefined)
            ctx.addIssue({ code: 'custom', message: `unknown codec ${JSON.stringify(name.slice(0, 40))} (known: ${SIP_CODEC_NAMES.join(', ')})` });
          return known ?? 'PCMU';
        }),
      )
      .min(1, 'name at least one codec')
      .refine((list) => new Set(list).size === list.length, { message: 'a codec is named twice' }),
  );

export const portRange = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'expected MIN-MAX, e.g. 20000-29999')
  .transform((s) => {
    const [min, max] = s.split('-').map(Number) as [number, number];
    return { min, max };
  })
  .refine((r) => r.min >= 1024 && r.max <= 65535 && r.min <= r.max, {
    message: 'range must lie within 1024-65535 with MIN <= MAX',
  });

/** `HOST:PORT`, an IPv6 host in brackets (`[::1]:9464`); port 0 picks a free one. */
export const hostPort = z
  .string()
  .trim()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/, 'expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464')
  .transform((s) => {
    const at = s.lastIndexOf(':');
    return { host: s.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(s.slice(at + 1)) };
  })
  .refine((a) => a.port <= 65535, { message: 'port must be 0-65535' })
  .refine((a) => !a.host.includes(':') || isIP(a.host) === 6, { message: 'not an IPv6 address' });

export const httpUrl = z.url({ protocol: /^https?$/ });

export const boolean = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

/** A duration such as `90s`, `15m`, `24h`, `7d` (or plain seconds), in seconds. */
export const duration = z.string().transform((text, ctx) => {
  const seconds = parseDuration(text);
  if (seconds === undefined) ctx.addIssue({ code: 'custom', message: 'expected a duration such as 3600, 90s, 15m, 24h or 7d (at most 366d)' });
  return seconds ?? 0;
});

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
