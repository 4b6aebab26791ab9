import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repairWavFile, WAV_HEADER_BYTES, WavWriter } from '../../../src/media/recording/wavWriter.js';
import { sine, toneLevel } from '../../support/tone.js';

/** The header fields a player reads, and the samples after it. */
function readWav(path: string) {
  const buf = readFileSync(path);
  return {
    fileBytes: buf.length,
    riff: buf.toString('ascii', 0, 4),
    riffSize: buf.readUInt32LE(4),
    wave: buf.toString('ascii', 8, 12),
    format: buf.readUInt16LE(20),
    channels: buf.readUInt16LE(22),
    sampleRate: buf.readUInt32LE(24),
    byteRate: buf.readUInt32LE(28),
    blockAlign: buf.readUInt16LE(32),
    bitsPerSample: buf.readUInt16LE(34),
    dataSize: buf.readUInt32LE(40),
    samples: new Int16Array(buf.buffer.slice(buf.byteOffset + WAV_HEADER_BYTES, buf.byteOffset + buf.length - ((buf.length - WAV_HEADER_BYTES) % 2))),
  };
}

describe('WavWriter', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-wav-'));
    path = join(dir, 'out.wav');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a 44-byte header with placeholder sizes at open, and refuses an existing file', async () => {
    const writer = await WavWriter.open(path, { sampleRate: 48_000, channels: 1 });
    expect(readWav(path)).toMatchObject({ fileBytes: 44, riff: 'RIFF', wave: 'WAVE', riffSize: 36, dataSize: 0, sampleRate: 48_000 });
    await expect(WavWriter.open(path, { sampleRate: 48_000, channels: 1 })).rejects.toThrow(/EEXIST/);
    await writer.close();
  });

  it('streams samples and patches the RIFF and data sizes at close', async () => {
    // Arrange: 1.5 s of 440 Hz in 20 ms frames, through one reused buffer as the bridge does.
    const writer = await WavWriter.open(path, { sampleRate: 48_000, channels: 1 });
    const tone = sine(440, 8000, 72_000);
    const frame = new Int16Array(960);

    // Act
    for (let i = 0; i < tone.length; i += 960) {
      frame.set(tone.subarray(i, i + 960));
      writer.write(frame);
    }
    const result = await writer.close();

    // Assert
    expect(result).toEqual({ durationMs: 1500, bytes: 44 + 144_000, droppedSamples: 0 });
    const wav = readWav(path);
    expect(wav).toMatchObject({
      fileBytes: 144_044,
      riffSize: 144_036,
      dataSize: 144_000,
      format: 1,
      channels: 1,
      sampleRate: 48_000,
      byteRate: 96_000,
      blockAlign: 2,
      bitsPerSample: 16,
    });
    expect(wav.samples).toEqual(tone);
    expect(toneLevel(wav.samples, 440)).toBeGreaterThan(7900);
  });

  it('writes a subarray view from its own offset', async () => {
    const writer = await WavWriter.open(path, { sampleRate: 8000, channels: 1 });
    const all = Int16Array.from([1, 2, 3, 4, 5, 6]);
    writer.write(all.subarray(2, 5));
    await writer.close();
    expect(Array.from(readWav(path).samples)).toEqual([3, 4, 5]);
  });

  it('makes a second close harmless and ignores writes after close', async () => {
    const writer = await WavWriter.open(path, { sampleRate: 48_000, channels: 1 });
    writer.write(sine(440, 1000, 480));
    const first = await writer.close();

    writer.write(sine(440, 1000, 480));
    const second = await writer.close();

    expect(second).toEqual(first);
    expect(first).toMatchObject({ durationMs: 10, bytes: 44 + 960 });
    expect(statSync(path).size).toBe(44 + 960);
    expect(readWav(path).dataSize).toBe(960);
  });

  it('drops and counts samples past its queue cap instead of growing without bound', async () => {
    // A cap of two frames: writing ten frames in one synchronous burst cannot all be queued.
    const writer = await WavWriter.open(path, { sampleRate: 48_000, channels: 1, maxQueuedBytes: 2 * 1920 });
    for (let i = 0; i < 10; i++) writer.write(sine(440, 1000, 960));
    const result = await writer.close();

    expect(result.droppedSamples).toBe(8 * 960);
    expect(result.bytes).toBe(44 + 2 * 1920);
    expect(readWav(path).dataSize).toBe(2 * 1920);
  });

  it('keeps accepting once the queue has drained', async () => {
    const writer = await WavWriter.open(path, { sampleRate: 48_000, channels: 1, maxQueuedBytes: 1920 });
    writer.write(sine(440, 1000, 960));
    await writer.flushed();
    writer.write(sine(440, 1000, 960));
    const result = await writer.close();
    expect(result).toMatchObject({ droppedSamples: 0, bytes: 44 + 2 * 1920 });
  });
});

describe('repairWavFile', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-wav-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('patches the sizes of a file whose writer never closed, dropping a partial sample', async () => {
    // Arrange: a writer "cut off" after 1 s, plus one stray byte of a half-written sample.
    const path = join(dir, 'cut.wav');
    const writer = await WavWriter.open(path, { sampleRate: 48_000, channels: 1 });
    writer.write(sine(440, 1000, 48_000));
    await writer.flushed();
    appendFileSync(path, Buffer.from([0x7f]));
    expect(readWav(path).dataSize).toBe(0);

    // Act
    const repaired = await repairWavFile(path);

    // Assert
    expect(repaired).toEqual({ durationMs: 1000, bytes: 44 + 96_000 });
    expect(readWav(path)).toMatchObject({ fileBytes: 96_044, riffSize: 96_036, dataSize: 96_000 });
    await writer.close();
  });

  it('refuses a file that is not a PCM WAV file', async () => {
    const path = join(dir, 'junk.wav');
    appendFileSync(path, Buffer.alloc(100, 1));
    await expect(repairWavFile(path)).rejects.toThrow(/not a 16-bit PCM WAV/);
    await expect(repairWavFile(join(dir, 'missing.wav'))).rejects.toThrow(/ENOENT/);
  });
});
