import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { constants as fsConstants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { isAbsolute, join, sep } from 'node:path';
import { Agent, request } from 'undici';
import { fail, LegwayError } from '../../domain/errors.js';
import type { DecodePool } from './decodePool.js';
import { decodeWav, DEFAULT_MAX_SECONDS } from './wav.js';

export interface MediaLoaderOptions {
  /** The only folder local names are read from. */
  mediaDir: string;
  /** Largest file or response body accepted, in bytes. */
  maxBytes: number;
  /** Time allowed for one URL fetch, connect to last body byte. */
  timeoutMs: number;
  /** Let URLs reach loopback, private, link-local and other non-public addresses (default false). */
  allowPrivateUrls?: boolean;
  /** Longest decoded audio accepted, in seconds. */
  maxSeconds?: number;
  /** Decodes off the main thread (the gateway passes one); without it, decoding runs inline. */
  decoder?: DecodePool;
}

const MAX_NAME_LENGTH = 1024;
const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

/**
 * Loads what `play` plays: a WAV from the media folder or from an http(s) URL, decoded to the
 * bridge's 48 kHz mono Int16. Errors are LegwayErrors that name only what the caller gave.
 */
export class MediaLoader {
  private readonly agent: Agent;
  private readonly maxSeconds: number;
  private closed = false;

  private readonly decoder: DecodePool | undefined;

  constructor(private readonly options: MediaLoaderOptions) {
    this.maxSeconds = options.maxSeconds ?? DEFAULT_MAX_SECONDS;
    this.decoder = options.decoder;
    this.agent = new Agent({
      // Redirects are not followed (undici's request does not by default): a 3xx is refused.
      connect: {
        timeout: options.timeoutMs,
        ...(options.allowPrivateUrls === true ? {} : { lookup: publicOnlyLookup }),
      },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 4000,
    });
  }

  /** Loads and decodes `ref`: an http(s) URL or a name relative to the media folder. */
  async load(ref: string): Promise<Int16Array> {
    const { bytes, name } = await this.read(ref);
    return this.decoder ? this.decoder.decode(bytes, name, this.maxSeconds) : decodeWav(bytes, name, { maxSeconds: this.maxSeconds });
  }

  /** The raw bytes of `ref` and the name to use for it in messages. */
  async read(ref: string): Promise<{ bytes: Uint8Array; name: string }> {
    if (this.closed) throw fail('Unavailable', 'the media loader is closed');
    if (ref.length === 0) throw fail('BadRequest', 'media name is empty');
    if (ref.length > MAX_NAME_LENGTH) throw fail('BadRequest', `media name is longer than ${MAX_NAME_LENGTH} characters`);
    if (SCHEME.test(ref)) {
      const url = parseUrl(ref);
      const name = `${url.origin}${url.pathname}`;
      return { bytes: await this.fetch(url, name), name };
    }
    return { bytes: await this.readLocal(ref), name: `media file ${JSON.stringify(ref)}` };
  }

  /** Releases the HTTP connections; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.close();
  }

  private async readLocal(ref: string): Promise<Uint8Array> {
    const shown = `media file ${JSON.stringify(ref)}`;
    if (ref.includes('\0')) throw fail('BadRequest', 'media name contains a NUL byte');
    if (ref.includes('\\')) throw fail('BadRequest', `${shown}: use "/" between folders`);
    if (isAbsolute(ref)) throw fail('BadRequest', `${shown}: the name must be relative to the media folder`);
    if (ref.split('/').includes('..')) throw fail('BadRequest', `${shown}: ".." is not allowed in media names`);

    let root: string;
    try {
      root = await realpath(this.options.mediaDir);
    } catch {
      throw fail('Unavailable', 'the media folder is not available');
    }
    let real: string;
    try {
      real = await realpath(join(root, ref));
    } catch (err) {
      throw fileError(err, shown);
    }
    const inside = root.endsWith(sep) ? root : root + sep;
    if (real !== root && !real.startsWith(inside)) {
      throw fail('Forbidden', `${shown} leads outside the media folder`);
    }

    // Look before opening: opening a FIFO would block, and a huge file should cost nothing.
    const before = await stat(real).catch((err: unknown) => {
      throw fileError(err, shown);
    });
    checkFile(before, shown, this.options.maxBytes);

    let handle;
    try {
      // O_NOFOLLOW and O_NONBLOCK so a swap after the checks above cannot redirect or stall the read.
      handle = await open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (err) {
      throw fileError(err, shown);
    }
    try {
      const info = await handle.stat();
      if (info.ino !== before.ino || info.dev !== before.dev) throw fail('Unavailable', `${shown} changed while being opened`);
      checkFile(info, shown, this.options.maxBytes);
      const bytes = new Uint8Array(info.size);
      let filled = 0;
      while (filled < bytes.length) {
        const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return bytes.subarray(0, filled);
    } finally {
      await handle.close();
    }
  }

  private async fetch(url: URL, name: string): Promise<Uint8Array> {
    const { maxBytes, timeoutMs } = this.options;
    if (this.options.allowPrivateUrls !== true) {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0 && isPrivateAddress(host)) throw privateAddress(name);
    }
    // One deadline for connect, headers and body together.
    const signal = AbortSignal.timeout(timeoutMs);
    const failure = (err: unknown): LegwayError => fetchError(err, signal, name, timeoutMs);

    let response;
    try {
      response = await request(url, {
        dispatcher: this.agent,
        method: 'GET',
        signal,
        headers: { accept: 'audio/wav, audio/x-wav, audio/*;q=0.9, */*;q=0.1', 'accept-encoding': 'identity', 'user-agent': 'legway' },
      });
    } catch (err) {
      throw failure(err);
    }
    const { statusCode, headers, body } = response;
    // Destroying an unfinished body makes undici emit an abort error; it is expected here, not a crash.
    body.on('error', () => undefined);
    try {
      if (statusCode < 200 || statusCode > 299) {
        const redirect = statusCode >= 300 && statusCode < 400 ? ' (redirects are not followed)' : '';
        throw fail('BadRequest', `${name} answered HTTP ${statusCode}${redirect}`);
      }
      const declared = Number(headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        throw fail('PayloadTooLarge', `${name} is ${declared} bytes; at most ${maxBytes} are accepted`);
      }
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > maxBytes) throw fail('PayloadTooLarge', `${name} is larger than ${maxBytes} bytes`);
        chunks.push(chunk);
      }
      return Buffer.concat(chunks, total);
    } catch (err) {
      throw failure(err);
    } finally {
      if (!body.destroyed) body.destroy();
    }
  }
}

function parseUrl(ref: string): URL {
  const scheme = SCHEME.exec(ref)?.[0].toLowerCase();
  if (scheme !== 'http:' && scheme !== 'https:') {
    throw fail('BadRequest', `unsupported URL scheme "${scheme ?? ''}"; media URLs must be http or https`);
  }
  let url: URL;
  try {
    url = new URL(ref);
  } catch {
    throw fail('BadRequest', 'media URL is not a valid URL');
  }
  if (url.username !== '' || url.password !== '') throw fail('BadRequest', 'media URLs may not carry credentials');
  return url;
}

function checkFile(info: { isFile(): boolean; isDirectory(): boolean; size: number }, shown: string, maxBytes: number): void {
  if (info.isDirectory()) throw fail('BadRequest', `${shown} is a folder, not a file`);
  if (!info.isFile()) throw fail('BadRequest', `${shown} is not a regular file`);
  if (info.size > maxBytes) throw fail('PayloadTooLarge', `${shown} is ${info.size} bytes; at most ${maxBytes} are accepted`);
}

/** Maps a file-system failure to a code and a message that names only what the caller gave. */
function fileError(err: unknown, shown: string): LegwayError {
  if (err instanceof LegwayError) return err;
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return fail('NotFound', `${shown} not found`);
    case 'ELOOP':
      return fail('BadRequest', `${shown} cannot be resolved (symbolic link loop)`);
    case 'ENAMETOOLONG':
      return fail('BadRequest', `${shown}: name too long`);
    case 'EACCES':
    case 'EPERM':
      return fail('Forbidden', `${shown} cannot be read`);
    default:
      return fail('Internal', `${shown} could not be read`);
  }
}

const PRIVATE_MARK = 'ELEGWAY_PRIVATE_ADDRESS';

function privateAddress(name: string): LegwayError {
  return fail('Forbidden', `${name} points at a private or local address`);
}

/** Maps a fetch failure; only codes are reported, never addresses or server texts. */
function fetchError(err: unknown, signal: AbortSignal, name: string, timeoutMs: number): LegwayError {
  if (err instanceof LegwayError) return err;
  if (signal.aborted) return fail('Unavailable', `fetching ${name} timed out after ${timeoutMs} ms`);
  const codes: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') codes.push(code);
  }
  if (codes.includes(PRIVATE_MARK)) return privateAddress(name);
  if (codes.some((c) => c.endsWith('_TIMEOUT'))) return fail('Unavailable', `fetching ${name} timed out after ${timeoutMs} ms`);
  if (codes.includes('ENOTFOUND')) return fail('BadRequest', `the host of ${name} was not found`);
  return fail('Unavailable', `fetching ${name} failed (${codes[0] ?? 'network error'})`);
}

/** Address ranges a media URL may not reach unless `allowPrivateUrls` is set. */
const NON_PUBLIC = (() => {
  const list = new BlockList();
  const v4: [string, number][] = [
    ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
    ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
    ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
  ];
  const v6: [string, number][] = [
    ['::', 128], ['::1', 128], ['::ffff:0:0', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32],
    ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
  ];
  for (const [net, bits] of v4) list.addSubnet(net, bits, 'ipv4');
  for (const [net, bits] of v6) list.addSubnet(net, bits, 'ipv6');
  return list;
})();

function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * DNS lookup for the fetch agent that refuses names resolving to any non-public address. Checking
 * at connect time (not before the request) leaves no gap for a name to re-resolve elsewhere.
 */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) {
      callback(err, '', 0);
      return;
    }
    if (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))) {
      callback(Object.assign(new Error('address is not public'), { code: PRIVATE_MARK }), '', 0);
      return;
    }
    if (options.all === true) {
      callback(null, addresses);
      return;
    }
    const first = addresses[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
};
