import type { Readable } from 'node:stream';
import { mkdir, open, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { seesAll, type Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import type { EventBody } from '../events/catalogue.js';
import { newRecordingId } from '../lib/ids.js';
import { SAMPLE_RATE } from '../media/audio/frame.js';
import { repairWavFile, WavWriter } from '../media/recording/wavWriter.js';
import type { RecordingFormat, RecordingStatus, StoredRecording } from '../store/recordingsRepo.js';
import type { Store } from '../store/store.js';
import type { Access } from './access.js';
import type { ServiceContext } from './context.js';

/** A recording as the API shows it (never its path on disk). */
export interface Recording {
  id: string;
  conversation_id: string;
  /** The recorded leg; absent for the conversation mix. */
  leg_id?: string;
  format: RecordingFormat;
  status: RecordingStatus;
  /** Where to download it (REST, relative to the gateway). */
  url: string;
  /** Seconds, to the millisecond, once done (as in `audio:record:done`). */
  duration?: number;
  /** Bytes of the file, once done. */
  size?: number;
  created_by: string;
  timestamp: { started: string; ended?: string };
}

/** A recording being written: the capture writes frames to `writer`, then calls `finish(id, writer)`. */
export interface StartedRecording {
  id: string;
  /** Absolute path of the file (for logs; the API never shows it). */
  path: string;
  writer: WavWriter;
}

export interface NewRecordingRequest {
  conversationId: string;
  /** The leg recorded; omit for the conversation mix. */
  legId?: string | undefined;
  /** `application`, or the operator's or user's name. */
  createdBy: string;
}

/** An opened recording file, ready to stream whole or in part. */
export interface RecordingFile {
  recording: Recording;
  size: number;
  /** Bytes `start..end` (inclusive; the whole file by default); closes the file when done or destroyed. */
  stream(range?: { start: number; end: number }): Readable;
  /** Closes the file without streaming it. */
  close(): Promise<void>;
}

/** The API shape of a stored recording. */
export function toRecording(r: StoredRecording): Recording {
  const rec: Recording = {
    id: r.id,
    conversation_id: r.conversation_id,
    format: r.format,
    status: r.status,
    url: `/v1/recordings/${r.id}`,
    created_by: r.created_by,
    timestamp: { started: r.started_at },
  };
  if (r.leg_id !== undefined) rec.leg_id = r.leg_id;
  if (r.duration_ms !== undefined) rec.duration = r.duration_ms / 1000;
  if (r.size_bytes !== undefined) rec.size = r.size_bytes;
  if (r.ended_at !== undefined) rec.timestamp.ended = r.ended_at;
  return rec;
}

/** The `audio:record:done` body of a finished recording, for the capture that announces it. */
export function recordDoneBody(r: Recording): EventBody<'audio:record:done'> {
  return {
    recording_id: r.id,
    ...(r.leg_id !== undefined && { leg_id: r.leg_id }),
    url: r.url,
    format: r.format,
    duration: r.duration ?? 0,
    size: r.size ?? 0,
    start_time: r.timestamp.started,
    ...(r.timestamp.ended !== undefined && { end_time: r.timestamp.ended }),
  };
}

/** The absolute path of a stored relative path, refusing anything that would leave `root`. */
function inside(root: string, relative: string): string {
  const path = resolve(root, relative);
  if (!path.startsWith(root + sep)) throw fail('Internal', 'recording path escapes the recordings folder');
  return path;
}

/**
 * Recordings: files under `<dataDir>/recordings/<conversation_id>/<id>.wav` with their metadata
 * in the store. The capture (audio bridge) creates and finishes them; the API reads and deletes.
 */
export class RecordingService {
  private readonly root: string;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
    /** The recordings folder (`<dataDir>/recordings`). */
    dir: string,
  ) {
    this.root = resolve(dir);
  }

  /**
   * Starts a recording of a leg or of the conversation mix: a 48 kHz mono WAV file and its row.
   * The caller has already authorised the record action.
   */
  async create(req: NewRecordingRequest): Promise<StartedRecording> {
    const conversation = this.access.conversation(req.conversationId);
    if (req.legId !== undefined) {
      const leg = this.ctx.store.legs.get(req.legId);
      if (leg?.conversation_id !== conversation.id) throw fail('LegNotFound', `leg ${req.legId} not found in ${conversation.id}`);
    }
    const id = newRecordingId();
    const relative = `${conversation.id}/${id}.wav`;
    const path = inside(this.root, relative);
    const writer = await this.openWriter(path);
    try {
      this.ctx.store.recordings.insert({
        id,
        conversation_id: conversation.id,
        leg_id: req.legId,
        format: 'wav',
        path: relative,
        started_at: this.ctx.clock.now().toISOString(),
        created_by: req.createdBy,
      });
    } catch (err) {
      await writer.close().catch(() => undefined);
      await rm(path, { force: true });
      throw err;
    }
    return { id, path, writer };
  }

  /**
   * Closes the writer and marks the recording done with its duration and size (failed if the file
   * could not be written). Calling it again changes nothing and returns the recording.
   */
  async finish(id: string, writer: WavWriter): Promise<Recording> {
    try {
      const result = await writer.close();
      if (result.droppedSamples > 0) {
        this.ctx.logger.warn({ recording_id: id, dropped_samples: result.droppedSamples }, 'recording dropped audio: the disk could not keep up');
      }
      this.ctx.store.recordings.finish(id, { duration_ms: result.durationMs, size_bytes: result.bytes, ended: this.ctx.clock.now().toISOString() });
    } catch (err) {
      this.ctx.logger.error({ err, recording_id: id }, 'recording failed');
      this.ctx.store.recordings.markFailed(id, this.ctx.clock.now().toISOString());
    }
    return toRecording(this.stored(id));
  }

  /** A recording's metadata, if the principal may see it. */
  get(id: string, p: Principal): Recording {
    return toRecording(this.readable(id, p));
  }

  /** A conversation's recordings; the application and operators also see those of deleted conversations. */
  list(conversationId: string, p: Principal): Recording[] {
    if (seesAll(p)) {
      if (!this.ctx.store.conversations.get(conversationId)) throw fail('ConversationNotFound', `conversation ${conversationId} not found`);
    } else {
      this.access.readable(conversationId, p);
    }
    return this.ctx.store.recordings.listByConversation(conversationId).map(toRecording);
  }

  /** Opens a finished recording's file for download. */
  async openFile(id: string, p: Principal): Promise<RecordingFile> {
    const stored = this.readable(id, p);
    if (stored.status !== 'done') throw fail('InvalidState', `recording ${id} is ${stored.status}, not downloadable`);
    let handle;
    try {
      handle = await open(inside(this.root, stored.path), 'r');
    } catch (err) {
      this.ctx.logger.warn({ err, recording_id: id }, 'recording file is missing');
      throw fail('RecordingNotFound', `recording ${id} has no file`);
    }
    const file = handle;
    const size = await file.stat().then(
      (st) => st.size,
      async (err: unknown) => {
        await file.close();
        throw err;
      },
    );
    return {
      recording: toRecording(stored),
      size,
      stream: (range) => file.createReadStream(range ? { start: range.start, end: range.end } : {}),
      close: () => file.close(),
    };
  }

  /** Deletes a finished or failed recording, file and row; the application only. */
  async delete(id: string, p: Principal): Promise<void> {
    this.access.requireApplication(p, 'deleting a recording');
    const stored = this.stored(id);
    if (stored.status === 'recording') throw fail('InvalidState', `recording ${id} is still being written; stop it first`);
    const path = inside(this.root, stored.path);
    await rm(path, { force: true });
    this.ctx.store.recordings.delete(id);
    // The conversation's folder goes with its last recording; one still in use is simply kept.
    await rmdir(dirname(path)).catch(() => undefined);
  }

  /** Opens the file, making its folder; once more if `delete` removed that folder in between. */
  private async openWriter(path: string): Promise<WavWriter> {
    for (let attempt = 1; ; attempt++) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      try {
        return await WavWriter.open(path, { sampleRate: SAMPLE_RATE, channels: 1 });
      } catch (err) {
        if (attempt >= 2 || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  private stored(id: string): StoredRecording {
    const stored = this.ctx.store.recordings.get(id);
    if (!stored) throw fail('RecordingNotFound', `recording ${id} not found`);
    return stored;
  }

  /**
   * Application and operators see every recording; a user those of active conversations it is a
   * member of, and one refusal for the rest, whether the recording exists or not.
   */
  private readable(id: string, p: Principal): StoredRecording {
    if (seesAll(p)) return this.stored(id);
    const stored = this.ctx.store.recordings.get(id);
    const active = stored && this.ctx.store.conversations.get(stored.conversation_id)?.state === 'active';
    if (!stored || !active || !this.access.memberOf(stored.conversation_id, p)) throw fail('RecordingNotFound', 'recording not found or not allowed');
    return stored;
  }
}

/**
 * At startup: recordings still marked running were cut off by a crash or a stop. Each is finished
 * from what reached its file (header sizes patched, ended = the file's last write), or marked
 * failed when the file is missing or unreadable.
 */
export async function recoverRecordings(store: Store, dir: string, now: Date = new Date()): Promise<{ finished: string[]; failed: string[] }> {
  const root = resolve(dir);
  const finished: string[] = [];
  const failed: string[] = [];
  for (const rec of store.recordings.listUnfinished()) {
    try {
      const path = inside(root, rec.path);
      // Read before the repair writes to the file: the last audio write is when it ended.
      const { mtime } = await stat(path);
      const { durationMs, bytes } = await repairWavFile(path);
      store.recordings.finish(rec.id, { duration_ms: durationMs, size_bytes: bytes, ended: mtime.toISOString() });
      finished.push(rec.id);
    } catch {
      store.recordings.markFailed(rec.id, now.toISOString());
      failed.push(rec.id);
    }
  }
  return { finished, failed };
}
