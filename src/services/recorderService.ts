import { seesAll, type Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import { SYSTEM_ORIGIN } from '../domain/model.js';
import { Tap, type EndReason } from '../media/bridge/sources.js';
import type { WavWriter } from '../media/recording/wavWriter.js';
import type { Access } from './access.js';
import type { ServiceContext } from './context.js';
import type { LegService } from './legService.js';
import type { PlayTarget } from './playbackService.js';
import { recordDoneBody, type RecordingService } from './recordingService.js';

interface Capture {
  conversationId: string;
  legId: string | undefined;
  /** The conversation recording this per-leg file was split from. */
  parent: string | undefined;
  tap: Tap;
  writer: WavWriter;
  timer: NodeJS.Timeout | undefined;
  /** Settles once the file is finished and `audio:record:done` logged. */
  done: Promise<void>;
}

/**
 * Recording in calls: taps the conversation's mix (what a listener hears, announcements included)
 * or one leg's own audio (silence while it is muted) into a WAV file, 48 kHz mono, until stopped,
 * `max_duration`, or the end of the leg or of the conversation's media. Logs `audio:record` at the
 * start, `audio:record:stop` when stopped on request, and `audio:record:done` with the file's
 * duration, size and download URL.
 */
export class RecorderService {
  private readonly captures = new Map<string, Capture>();

  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
    private readonly legs: LegService,
    private readonly recordings: RecordingService,
  ) {}

  /**
   * Starts a recording; with `split` on a conversation, also one per leg in the call now (each
   * with its own id, stopped with the conversation's).
   */
  async start(
    target: PlayTarget,
    options: { format: 'wav'; max_duration?: number | undefined; split?: boolean },
    p: Principal,
  ): Promise<{ recording_id: string; split?: { leg_id: string; recording_id: string }[] }> {
    const main = await this.startOne(target, options, p, undefined);
    if (!options.split || 'legId' in target) return { recording_id: main };
    const split: { leg_id: string; recording_id: string }[] = [];
    for (const legId of this.legs.mediaTarget(target, p).bridge.legIds()) {
      try {
        split.push({ leg_id: legId, recording_id: await this.startOne({ legId }, options, p, main) });
      } catch (err) {
        // A leg that ended meanwhile has nothing to record; the others still are.
        this.ctx.logger.debug({ err, leg_id: legId }, 'no split recording for a leg');
      }
    }
    return { recording_id: main, split };
  }

  private async startOne(
    target: PlayTarget,
    options: { format: 'wav'; max_duration?: number | undefined },
    p: Principal,
    parent: string | undefined,
  ): Promise<string> {
    const first = this.legs.mediaTarget(target, p);
    const started = await this.recordings.create({
      conversationId: first.conversationId,
      ...(first.legId !== undefined && { legId: first.legId }),
      createdBy: p.role === 'application' ? 'application' : p.sub,
    });
    let where: ReturnType<LegService['mediaTarget']>;
    try {
      // Opening the file took a moment: the leg or the media may have gone meanwhile.
      where = this.legs.mediaTarget(target, p);
    } catch (err) {
      await this.recordings.finish(started.id, started.writer);
      throw err;
    }
    const { id, writer } = started;
    let settle: () => void = () => undefined;
    const capture: Capture = {
      conversationId: where.conversationId,
      legId: where.legId,
      parent,
      writer,
      timer: undefined,
      done: new Promise((resolve) => (settle = resolve)),
      tap: new Tap(
        id,
        where.legId,
        (frame) => writer.write(frame),
        (reason) => {
          // Taps end inside the bridge's 20 ms tick: finish the file after it.
          setImmediate(() => void this.finish(id, capture, reason).finally(settle));
        },
      ),
    };
    if (options.max_duration !== undefined) {
      capture.timer = setTimeout(() => capture.tap.end('done'), options.max_duration * 1000);
    }
    this.captures.set(id, capture);
    this.append(where.conversationId, 'audio:record', { recording_id: id, ...(where.legId !== undefined && { leg_id: where.legId }), format: options.format });
    where.bridge.tap(capture.tap);
    return id;
  }

  /** Stops the recordings of the target (all, or the one `id`); returns the ids stopped. */
  stop(target: PlayTarget, p: Principal, id?: string): string[] {
    if (!seesAll(p)) throw fail('Forbidden', 'stopping a recording needs an operator or application token');
    const legId = 'legId' in target ? this.legs.get(target.legId, p).id : undefined;
    const conversationId = 'conversationId' in target ? this.access.conversation(target.conversationId).id : undefined;
    const stopped: string[] = [];
    const stop = (recordingId: string, capture: Capture): void => {
      if (!capture.tap.active) return;
      capture.tap.end('stopped');
      stopped.push(recordingId);
    };
    for (const [recordingId, capture] of [...this.captures]) {
      if (id !== undefined && recordingId !== id) continue;
      const matches = legId !== undefined ? capture.legId === legId : capture.legId === undefined && capture.conversationId === conversationId;
      if (!matches) continue;
      stop(recordingId, capture);
      // A conversation recording's split files stop with it.
      for (const [childId, child] of this.captures) if (child.parent === recordingId) stop(childId, child);
    }
    if (stopped.length === 0) throw fail('NotFound', 'nothing is being recorded there');
    return stopped;
  }

  /** Shutdown: stops every recording and waits until each file is finished. */
  async close(): Promise<void> {
    const pending = [...this.captures.values()];
    for (const capture of pending) capture.tap.end('closed');
    await Promise.all(pending.map((c) => c.done));
  }

  private async finish(id: string, capture: Capture, reason: EndReason): Promise<void> {
    clearTimeout(capture.timer);
    this.captures.delete(id);
    // A leg's recording follows the leg through a transfer: its end is news where the leg is now.
    const conversationId =
      capture.legId === undefined ? capture.conversationId : (this.ctx.store.legs.get(capture.legId)?.conversation_id ?? capture.conversationId);
    const legBody = capture.legId !== undefined ? { leg_id: capture.legId } : {};
    if (reason === 'stopped') this.append(conversationId, 'audio:record:stop', { recording_id: id, ...legBody });
    try {
      const recording = await this.recordings.finish(id, capture.writer);
      this.append(conversationId, 'audio:record:done', recordDoneBody(recording));
    } catch (err) {
      this.ctx.logger.error({ err, recording_id: id }, 'could not finish a recording');
    }
  }

  private append(conversationId: string, type: 'audio:record' | 'audio:record:stop' | 'audio:record:done', body: object): void {
    const { store, log, logger } = this.ctx;
    try {
      if (store.conversations.get(conversationId)?.state !== 'active') return;
      log.append({ conversation_id: conversationId, type, from: SYSTEM_ORIGIN, body });
    } catch (err) {
      logger.error({ err, conversation_id: conversationId, type }, 'could not record a recording event');
    }
  }
}
