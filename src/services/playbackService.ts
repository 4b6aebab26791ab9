import { randomUUID } from 'node:crypto';
import { seesAll, type Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import { SYSTEM_ORIGIN } from '../domain/model.js';
import { dtmfTones } from '../media/audio/dtmfTones.js';
import { concatSamples } from '../media/audio/frame.js';
import type { ConversationBridge } from '../media/bridge/conversationBridge.js';
import { Player, type EndReason } from '../media/bridge/sources.js';
import type { Access } from './access.js';
import type { ServiceContext } from './context.js';
import type { LegService } from './legService.js';

/** Reads a `stream_url` entry (a file in the media folder or an http(s) URL) as 48 kHz mono PCM. */
export interface AudioLoader {
  load(ref: string): Promise<Int16Array>;
}

/** Text to speech as 48 kHz mono PCM. */
export interface SpeechSynthesizer {
  synth(options: { text: string; language?: string; rate?: number }): Promise<Int16Array>;
}

/** Where audio goes: the whole conversation, or one leg (which alone hears it). */
export type PlayTarget = { conversationId: string } | { legId: string };

export interface PlayRequest {
  stream_url: string[];
  loop: number;
  level: number;
}

export interface SayRequest {
  text: string;
  language?: string | undefined;
  rate?: number | undefined;
  loop: number;
  level: number;
}

/** What plays: DTMF counts toward the conversation's limit but is not stopped by play/say stops. */
type Kind = 'play' | 'say' | 'dtmf';

interface Playing {
  kind: Kind;
  conversationId: string;
  legId: string | undefined;
  /** Ended directly (the bridge drops ended players): a leg's player moves with it on a transfer. */
  player: Player;
}

/** Players at once in one conversation (plays, speech and DTMF together). */
const MAX_PER_CONVERSATION = 16;
const DEFAULT_LANGUAGE = 'en-us';

/**
 * play, say and DTMF into calls: loads or synthesises the audio, plays it through the
 * conversation's audio bridge to everyone or to one leg, and logs `audio:play` / `audio:say` when
 * it starts and `…:done` or `…:stop` when it ends (by itself, or stopped, or with its leg).
 */
export class PlaybackService {
  private readonly playing = new Map<string, Playing>();

  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
    private readonly legs: LegService,
    private readonly loader: AudioLoader,
    private readonly speech: SpeechSynthesizer,
  ) {}

  /** Plays audio files or URLs, one after another, `loop` times (0 = until stopped). */
  async play(target: PlayTarget, request: PlayRequest, p: Principal): Promise<{ id: string }> {
    this.where(target, p);
    const clips: Int16Array[] = [];
    for (const ref of request.stream_url) clips.push(await this.loader.load(ref));
    const id = randomUUID();
    this.start('play', id, target, p, concatSamples(clips), request, (conversationId, legId) => ({
      play_id: id,
      ...(legId !== undefined && { leg_id: legId }),
      stream_url: request.stream_url,
      loop: request.loop,
      level: request.level,
    }));
    return { id };
  }

  /** Speaks text with the configured synthesiser. */
  async say(target: PlayTarget, request: SayRequest, p: Principal): Promise<{ id: string }> {
    this.where(target, p);
    const language = request.language ?? DEFAULT_LANGUAGE;
    const samples = await this.speech.synth({ text: request.text, language, ...(request.rate !== undefined && { rate: request.rate }) });
    const id = randomUUID();
    this.start('say', id, target, p, samples, request, (conversationId, legId) => ({
      say_id: id,
      ...(legId !== undefined && { leg_id: legId }),
      text: request.text,
      language,
      loop: request.loop,
      level: request.level,
    }));
    return { id };
  }

  /** Stops what plays (or speaks) to the target; `id` picks one. Returns the ids stopped. */
  stop(kind: Kind, target: PlayTarget, p: Principal, id?: string): string[] {
    if (!seesAll(p)) throw fail('Forbidden', 'stopping audio in calls needs an operator or application token');
    const legId = 'legId' in target ? this.legs.get(target.legId, p).id : undefined;
    const conversationId = 'conversationId' in target ? this.access.conversation(target.conversationId).id : undefined;
    const stopped: string[] = [];
    for (const [playId, entry] of this.playing) {
      if (entry.kind !== kind || (id !== undefined && playId !== id)) continue;
      const matches = legId !== undefined ? entry.legId === legId : entry.legId === undefined && entry.conversationId === conversationId;
      if (!matches) continue;
      if (!entry.player.active) continue;
      entry.player.end('stopped');
      stopped.push(playId);
    }
    if (stopped.length === 0) throw fail('NotFound', `nothing is ${kind === 'play' ? 'playing' : 'being said'} there`);
    return stopped;
  }

  /** Sends DTMF as RFC 4733 events where the leg negotiated them (SIP); false when it cannot. */
  private rfc4733: (legId: string, digits: string) => boolean = () => false;

  /** Lets SIP legs take DTMF as RFC 4733 events instead of tones. */
  sendRfc4733With(sender: (legId: string, digits: string) => boolean): void {
    this.rfc4733 = sender;
  }

  /** Sends DTMF to one leg (RFC 4733 to a SIP leg that negotiated it, else tones in band), and logs each key as `audio:dtmf`. */
  dtmf(legId: string, digits: string, p: Principal): { id: string } {
    const { conversationId, bridge } = this.where({ legId }, p);
    const id = randomUUID();
    if (!this.rfc4733(legId, digits)) {
      this.checkLimit(conversationId);
      const player = new Player(id, dtmfTones(digits), { loop: 1, level: 0, legId }, () => {
        this.playing.delete(id);
      });
      this.playing.set(id, { kind: 'dtmf', conversationId, legId, player });
      bridge.play(player);
    }
    const { store, log } = this.ctx;
    store.transaction(() => {
      for (const digit of digits.replace(/p/gi, '')) {
        log.append({
          conversation_id: conversationId,
          type: 'audio:dtmf',
          from: SYSTEM_ORIGIN,
          body: { leg_id: legId, digit: digit.toUpperCase(), duration: 100, method: 'api' },
        });
      }
    });
    return { id };
  }

  /** Stops everything (shutdown); each player reports its stop. */
  close(): void {
    for (const entry of this.playing.values()) entry.player.end('stopped');
  }

  /** Checks the target and who asks; returns the conversation, the leg and its live bridge. */
  private where(target: PlayTarget, p: Principal): { conversationId: string; legId: string | undefined; bridge: ConversationBridge } {
    return this.legs.mediaTarget(target, p);
  }

  private start(
    kind: 'play' | 'say',
    id: string,
    target: PlayTarget,
    p: Principal,
    samples: Int16Array,
    options: { loop: number; level: number },
    body: (conversationId: string, legId: string | undefined) => Record<string, unknown>,
  ): void {
    // Loading took a while: the leg or the conversation's media may have gone meanwhile.
    const { conversationId, legId, bridge } = this.where(target, p);
    this.checkLimit(conversationId);
    const player = new Player(id, samples, { loop: options.loop, level: options.level, legId }, (reason) => {
      // Ends are reported from the bridge's 20 ms tick: the store write waits for the tick to finish.
      setImmediate(() => this.ended(id, entry, reason));
    });
    const entry: Playing & { kind: 'play' | 'say' } = { kind, conversationId, legId, player };
    this.playing.set(id, entry);
    this.append(conversationId, kind === 'play' ? 'audio:play' : 'audio:say', body(conversationId, legId));
    bridge.play(player);
  }

  private checkLimit(conversationId: string): void {
    let count = 0;
    for (const entry of this.playing.values()) if (entry.conversationId === conversationId) count++;
    if (count >= MAX_PER_CONVERSATION) throw fail('RateLimited', `at most ${String(MAX_PER_CONVERSATION)} plays at once in a conversation`);
  }

  private ended(id: string, entry: Playing & { kind: 'play' | 'say' }, reason: EndReason): void {
    this.playing.delete(id);
    const idKey = entry.kind === 'play' ? 'play_id' : 'say_id';
    const type = `audio:${entry.kind}:${reason === 'done' ? 'done' : 'stop'}` as const;
    // A leg that was transferred took its player along: its end is news where the leg is now.
    const conversationId = entry.legId === undefined ? entry.conversationId : (this.ctx.store.legs.get(entry.legId)?.conversation_id ?? entry.conversationId);
    this.append(conversationId, type, { [idKey]: id, ...(entry.legId !== undefined && { leg_id: entry.legId }) });
  }

  private append(
    conversationId: string,
    type: 'audio:play' | 'audio:play:done' | 'audio:play:stop' | 'audio:say' | 'audio:say:done' | 'audio:say:stop',
    body: Record<string, unknown>,
  ): void {
    const { store, log, logger } = this.ctx;
    try {
      if (store.conversations.get(conversationId)?.state !== 'active') return;
      log.append({ conversation_id: conversationId, type, from: SYSTEM_ORIGIN, body });
    } catch (err) {
      logger.error({ err, conversation_id: conversationId, type }, 'could not record a playback event');
    }
  }
}
