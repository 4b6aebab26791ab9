import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';

/**
 * A streaming writer of 16-bit PCM WAV files, and the repair of one left unfinished by a crash.
 *
 * No common library streams WAV (wavefile and friends build the whole file in memory), and the
 * format needs only a 44-byte header whose two size fields are known at the end: the header is
 * written at open with sizes of 0, and `close()` (or `repairWavFile` after a crash) patches them.
 */

/** Bytes of the canonical PCM header: RIFF chunk, 16-byte `fmt ` chunk, `data` chunk header. */
export const WAV_HEADER_BYTES = 44;

/** The largest data chunk a 32-bit RIFF size can describe (whole 16-bit samples). */
const MAX_DATA_BYTES = 0xffff_ffff - (WAV_HEADER_BYTES - 8) - 1;

/** Default cap on audio accepted but not yet in the file: about 11 s of 48 kHz mono. */
const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024;

const LITTLE_ENDIAN = endianness() === 'LE';

export interface WavFormat {
  sampleRate: number;
  channels: 1;
}

export interface WavWriterOptions extends WavFormat {
  /**
   * Cap on bytes queued or being written. Past it, `write` drops the samples and counts them
   * (`droppedSamples`): the producer is a real-time 20 ms tick that cannot wait, so pausing would
   * only move the unbounded queue upstream, while a disk that slow loses audio either way.
   */
  maxQueuedBytes?: number;
}

/** What a finished file holds. */
export interface WavResult {
  durationMs: number;
  /** Size of the whole file, header included. */
  bytes: number;
  /** Samples refused because the queue was full or the file at its 4 GiB limit. */
  droppedSamples: number;
}

/** The canonical 44-byte header of 16-bit PCM with `dataBytes` of samples. */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number): Buffer {
  const blockAlign = channels * 2;
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Writes the RIFF and data sizes of a file holding `dataBytes` of samples. */
async function patchSizes(handle: FileHandle, dataBytes: number): Promise<void> {
  const sizes = Buffer.alloc(4);
  sizes.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, 0);
  await handle.write(sizes, 0, 4, 4);
  sizes.writeUInt32LE(dataBytes, 0);
  await handle.write(sizes, 0, 4, 40);
}

function durationOf(dataBytes: number, sampleRate: number, channels: number): number {
  return Math.round((dataBytes / (2 * channels) / sampleRate) * 1000);
}

/**
 * Appends 16-bit samples to a WAV file without blocking the event loop: `write` only queues a
 * copy, and one write at a time drains the queue to the file at its known offset.
 */
export class WavWriter {
  private queue: Buffer[] = [];
  /** Bytes accepted and not yet written (queued or in flight): what the cap bounds. */
  private pendingBytes = 0;
  /** Bytes accepted into the data chunk so far (written or pending). */
  private acceptedBytes = 0;
  /** Data bytes in the file. */
  private writtenBytes = 0;
  private draining: Promise<void> | undefined;
  private error: Error | undefined;
  private closing: Promise<WavResult> | undefined;
  private dropped = 0;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    readonly format: WavFormat,
    private readonly maxQueuedBytes: number,
  ) {}

  /** Creates the file (it must not exist yet) and writes its header with placeholder sizes. */
  static async open(path: string, options: WavWriterOptions): Promise<WavWriter> {
    if (!Number.isInteger(options.sampleRate) || options.sampleRate < 1 || options.sampleRate > 384_000) {
      throw new RangeError(`unsupported sample rate ${options.sampleRate}`);
    }
    const handle = await open(path, 'wx', 0o600);
    try {
      await handle.write(wavHeader(options.sampleRate, options.channels, 0), 0, WAV_HEADER_BYTES, 0);
    } catch (err) {
      await handle.close();
      throw err;
    }
    const format = { sampleRate: options.sampleRate, channels: options.channels };
    return new WavWriter(handle, path, format, options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES);
  }

  /** Samples dropped so far (queue full, or the file at the WAV size limit). */
  get droppedSamples(): number {
    return this.dropped;
  }

  /** The first write error, after which the writer writes nothing more. */
  get failed(): Error | undefined {
    return this.error;
  }

  /** Queues a copy of `samples` (the caller may reuse its buffer); ignored after close or an error. */
  write(samples: Int16Array): void {
    if (this.closing || this.error || samples.length === 0) return;
    const bytes = samples.byteLength;
    if (this.pendingBytes + bytes > this.maxQueuedBytes || this.acceptedBytes + bytes > MAX_DATA_BYTES) {
      this.dropped += samples.length;
      return;
    }
    // Buffer.from of a typed array copies its bytes.
    const chunk = Buffer.from(new Uint8Array(samples.buffer, samples.byteOffset, bytes));
    if (!LITTLE_ENDIAN) chunk.swap16();
    this.queue.push(chunk);
    this.pendingBytes += bytes;
    this.acceptedBytes += bytes;
    this.drain();
  }

  /** Resolves once everything written so far is in the file (or writing has failed). */
  async flushed(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** Drains the queue, patches the header's sizes and closes the file; a second call returns the first's result. */
  close(): Promise<WavResult> {
    this.closing ??= (async () => {
      try {
        await this.flushed();
        if (this.error) throw this.error;
        await patchSizes(this.handle, this.writtenBytes);
        await this.handle.sync();
      } finally {
        await this.handle.close();
      }
      return {
        durationMs: durationOf(this.writtenBytes, this.format.sampleRate, this.format.channels),
        bytes: WAV_HEADER_BYTES + this.writtenBytes,
        droppedSamples: this.dropped,
      };
    })();
    return this.closing;
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = (async () => {
      try {
        while (this.queue.length > 0) {
          const chunks = this.queue;
          this.queue = [];
          const buf = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
          let offset = 0;
          while (offset < buf.length) {
            const { bytesWritten } = await this.handle.write(buf, offset, buf.length - offset, WAV_HEADER_BYTES + this.writtenBytes);
            offset += bytesWritten;
            this.writtenBytes += bytesWritten;
          }
          this.pendingBytes -= buf.length;
        }
      } catch (err) {
        this.error = err instanceof Error ? err : new Error(String(err));
        this.queue = [];
        this.pendingBytes = 0;
      } finally {
        this.draining = undefined;
      }
    })();
  }
}

/**
 * Makes a WAV file left unfinished (header sizes never patched) whole again: drops a trailing
 * partial sample frame and writes the sizes from what is on disk. Throws if it is not a 16-bit
 * PCM WAV file this writer could have made.
 */
export async function repairWavFile(path: string): Promise<Omit<WavResult, 'droppedSamples'>> {
  const handle = await open(path, 'r+');
  try {
    const header = Buffer.alloc(WAV_HEADER_BYTES);
    const { bytesRead } = await handle.read(header, 0, WAV_HEADER_BYTES, 0);
    const channels = header.readUInt16LE(22);
    const sampleRate = header.readUInt32LE(24);
    const valid =
      bytesRead === WAV_HEADER_BYTES &&
      header.toString('ascii', 0, 4) === 'RIFF' &&
      header.toString('ascii', 8, 16) === 'WAVEfmt ' &&
      header.readUInt32LE(16) === 16 &&
      header.readUInt16LE(20) === 1 &&
      header.readUInt16LE(34) === 16 &&
      channels >= 1 &&
      sampleRate >= 1 &&
      header.toString('ascii', 36, 40) === 'data';
    if (!valid) throw new Error(`${path} is not a 16-bit PCM WAV file`);
    const blockAlign = 2 * channels;
    const { size } = await handle.stat();
    const available = Math.min(size - WAV_HEADER_BYTES, MAX_DATA_BYTES);
    const dataBytes = available - (available % blockAlign);
    if (size !== WAV_HEADER_BYTES + dataBytes) await handle.truncate(WAV_HEADER_BYTES + dataBytes);
    await patchSizes(handle, dataBytes);
    await handle.sync();
    return { durationMs: durationOf(dataBytes, sampleRate, channels), bytes: WAV_HEADER_BYTES + dataBytes };
  } finally {
    await handle.close();
  }
}
