import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fail, LegwayError } from '../../domain/errors.js';
import type { DecodePool } from './decodePool.js';
import { decodeWav } from './wav.js';

export interface SpeechSynthOptions {
  /** espeak-ng binary: a name looked up on PATH, or a path. */
  binary: string;
  /** Longest one synthesis may run before the child is killed. */
  timeoutMs: number;
  /** Longest text accepted, in characters. */
  maxTextLength: number;
  /** Largest WAV the child may write (default 64 MiB, about 25 minutes at espeak-ng's 22 kHz). */
  maxOutputBytes?: number;
  /** Decodes off the main thread (the gateway passes one); without it, decoding runs inline. */
  decoder?: DecodePool;
}

export interface SpeechRequest {
  text: string;
  /** espeak-ng voice: a language tag (`en`, `en-us`, `pt-br`), optionally with a variant (`en+f3`). */
  language?: string | undefined;
  /** Words per minute, 80–450. */
  rate?: number | undefined;
}

const LANGUAGE = /^[a-z]{2,3}(?:[-_][a-zA-Z0-9]{1,8})*(?:\+[a-zA-Z0-9_]{1,20})?$/;
const MIN_RATE = 80;
const MAX_RATE = 450;
const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;
const STDERR_KEPT = 4096;

/**
 * Text to speech with espeak-ng as a child process: no shell, the text on stdin (so no text can be
 * read as an option), a deadline and an output cap. Returns 48 kHz mono Int16.
 */
export class SpeechSynth {
  private readonly maxOutputBytes: number;

  private readonly decoder: DecodePool | undefined;

  constructor(private readonly options: SpeechSynthOptions) {
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    this.decoder = options.decoder;
  }

  /** Whether `binary` can be run (used to report text to speech as unavailable, and by tests). */
  static available(binary: string, timeoutMs = 5000): Promise<boolean> {
    return new Promise((resolve) => {
      let child;
      try {
        child = spawn(binary, ['--version'], { stdio: 'ignore', timeout: timeoutMs });
      } catch {
        resolve(false);
        return;
      }
      child.once('error', () => resolve(false));
      child.once('close', (code) => resolve(code === 0));
    });
  }

  /** Speaks `text` into audio. */
  async synth(request: SpeechRequest): Promise<Int16Array> {
    const args = this.arguments(request);
    const wav = await this.run(args, request.text, request.language);
    try {
      return this.decoder ? await this.decoder.decode(wav, 'speech output', Infinity) : decodeWav(wav, 'speech output', { maxSeconds: Infinity });
    } catch (err) {
      if (err instanceof LegwayError && err.code === 'UnsupportedMediaType') {
        throw fail('Unavailable', 'text to speech produced no usable audio');
      }
      throw err;
    }
  }

  private arguments({ text, language, rate }: SpeechRequest): string[] {
    if (text.trim().length === 0) throw fail('BadRequest', 'text to speak is empty');
    if (text.length > this.options.maxTextLength) {
      throw fail('PayloadTooLarge', `text to speak is ${text.length} characters; at most ${this.options.maxTextLength} are accepted`);
    }
    if (text.includes('\0')) throw fail('BadRequest', 'text to speak contains a NUL character');
    // `-b 1`: the text is UTF-8. `--stdin`: read it all from standard input.
    const args = ['--stdout', '-b', '1'];
    if (language !== undefined) {
      if (language.length > 40 || !LANGUAGE.test(language)) {
        throw fail('BadRequest', `language ${JSON.stringify(language.slice(0, 40))} is not a valid voice name (e.g. "en", "en-us", "de+f3")`);
      }
      args.push('-v', language);
    }
    if (rate !== undefined) {
      if (!Number.isFinite(rate) || rate < MIN_RATE || rate > MAX_RATE) {
        throw fail('BadRequest', `rate must be ${MIN_RATE}–${MAX_RATE} words per minute`);
      }
      args.push('-s', String(Math.round(rate)));
    }
    args.push('--stdin');
    return args;
  }

  private run(args: string[], text: string, language: string | undefined): Promise<Uint8Array> {
    const { binary, timeoutMs } = this.options;
    return new Promise<Uint8Array>((resolve, reject) => {
      let settled = false;
      let child: ChildProcessWithoutNullStreams | undefined;
      const settle = (err: LegwayError | undefined, value?: Uint8Array): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          child?.kill('SIGKILL');
          reject(err);
        } else {
          resolve(value ?? new Uint8Array(0));
        }
      };

      const timer = setTimeout(() => settle(fail('Unavailable', `text to speech timed out after ${timeoutMs} ms`)), timeoutMs);
      try {
        child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], shell: false, windowsHide: true, env: childEnv() });
      } catch {
        settle(fail('Unavailable', 'text to speech could not be started'));
        return;
      }

      const chunks: Buffer[] = [];
      let total = 0;
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > this.maxOutputBytes) {
          settle(fail('PayloadTooLarge', 'the spoken text would be too long'));
          return;
        }
        chunks.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < STDERR_KEPT) stderr += chunk.toString('utf8');
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        const missing = err.code === 'ENOENT' || err.code === 'EACCES';
        settle(fail('Unavailable', missing ? 'text to speech is not available (espeak-ng not installed)' : 'text to speech could not be started'));
      });
      child.on('close', (code) => {
        if (code === 0) {
          settle(undefined, Buffer.concat(chunks, total));
        } else if (language !== undefined && /voice does not exist/i.test(stderr)) {
          settle(fail('BadRequest', `language ${JSON.stringify(language)} is not available for text to speech`));
        } else {
          settle(fail('Unavailable', `text to speech failed (exit code ${code ?? 'none'})`));
        }
      });
      // The child may exit before reading everything (bad voice): that EPIPE is reported by 'close'.
      child.stdin.on('error', () => undefined);
      child.stdin.end(text, 'utf8');
    });
  }
}

/**
 * The environment espeak-ng runs with: only what it needs to find itself, its data and the
 * locale. The gateway's own environment holds secrets (LEGWAY_SECRET) a child has no use for.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'LANG', 'LC_ALL', 'ESPEAK_DATA_PATH']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}
