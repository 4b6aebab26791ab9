import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { fail } from '../../domain/errors.js';
import type { DecodeResult, DecodeTask } from './wavDecodeWorker.js';

/**
 * WAV decoding off the main thread. Decoding and resampling cost about 12–16 ms of CPU per second
 * of audio (measured, wavefile), so a 30 s prompt decoded on the event loop would hold up every
 * call's audio for half a second; one or two worker threads keep the event loop free.
 */
export class DecodePool {
  private readonly pool: Piscina;

  constructor(options: { threads?: number } = {}) {
    const url = new URL('./wavDecodeWorker.js', import.meta.url);
    // Run from TypeScript sources (tests, `npm run dev`): the worker is a .ts file that tsx loads.
    const fromSources = import.meta.url.endsWith('.ts');
    const filename = fileURLToPath(fromSources ? new URL('./wavDecodeWorker.ts', import.meta.url) : url);
    this.pool = new Piscina({
      filename,
      minThreads: 0,
      maxThreads: options.threads ?? 1,
      idleTimeout: 30_000,
      ...(fromSources && { execArgv: ['--import', 'tsx'] }),
    });
  }

  /** Decodes a WAV to 48 kHz mono; the same errors as `decodeWav`. */
  async decode(bytes: Uint8Array, what: string, maxSeconds: number): Promise<Int16Array> {
    const task: DecodeTask = { bytes, what, maxSeconds };
    const result = (await this.pool.run(task)) as DecodeResult;
    if (!result.ok) throw fail(result.code, result.message);
    return result.samples;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
