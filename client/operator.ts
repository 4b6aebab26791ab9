import { Connection, type ConnectionChange, type ConnectionOptions, type ConnectionState } from './connection.js';
import { Emitter } from './emitter.js';
import { isEventEnvelope, type LegwayEvent } from './events.js';

/** A live leg as `leg:list` shows it. */
export interface LiveLeg {
  id: string;
  conversation_id: string;
  member_id: string;
  type: 'webrtc' | 'sip';
  direction: 'inbound' | 'outbound';
  status: 'answering' | 'ringing' | 'connecting' | 'connected' | 'ending' | 'ended';
  media: { muted: boolean; earmuffed: boolean; video_muted: boolean };
  /** Whether the bridge hears this leg speaking now (`audio:speaking:on/off` tell the changes). */
  speaking: boolean;
  timestamp: { created: string; updated?: string; ended?: string };
}

/** A member as `conversation:list` shows it. */
export interface ListedMember {
  id: string;
  user: { id: string; name: string; display_name?: string };
  state: 'invited' | 'joined' | 'left';
  channel: { type: string; from?: string; to?: string };
  media: { audio: boolean; video: boolean; muted: boolean; earmuffed: boolean };
}

/** A conversation as `conversation:list` shows it. */
export interface ListedConversation {
  id: string;
  name: string;
  display_name?: string;
  state: 'active' | 'deleted';
  timestamp: { created: string; updated?: string };
  member_count: number;
  members: ListedMember[];
  leg_count: number;
}

/** Parameters of `play` (a WAV file in the media folder, or an http(s) URL). */
export interface PlayParams {
  stream_url: string[];
  loop?: number;
  level?: number;
}
/** Parameters of `say` (espeak-ng). */
export interface SayParams {
  text: string;
  language?: string;
  loop?: number;
  level?: number;
}

type OperatorEvents = {
  event: (event: LegwayEvent) => void;
  connection: (change: ConnectionChange) => void;
  /** Connected again after a loss: the watch is renewed; lists should be read again. */
  reconnected: () => void;
};

/**
 * An operator's connection to `/operator`: list conversations and live legs, watch events, and
 * act on any leg. After a reconnection the watch is renewed by itself.
 */
export class OperatorClient {
  readonly connection: Connection;
  private watching: string[] | 'all' | undefined;
  private readonly emitter = new Emitter<OperatorEvents>();

  private constructor(options: ConnectionOptions) {
    this.connection = new Connection('/operator', options);
    this.connection.on('change', (change) => this.emitter.emit('connection', change));
    this.connection.on('connect', (first) => {
      if (first) return;
      void this.renewWatch().finally(() => this.emitter.emit('reconnected'));
    });
    this.connection.socket.onAny((name: unknown, payload: unknown) => {
      if (isEventEnvelope(payload) && payload.type === name) this.emitter.emit('event', payload);
    });
  }

  /** Connects with an operator token; rejects with `Unauthorized` when refused. */
  static async connect(options: ConnectionOptions): Promise<OperatorClient> {
    const client = new OperatorClient(options);
    await client.connection.open();
    return client;
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  onEvent(listener: OperatorEvents['event']): () => void {
    return this.emitter.on('event', listener);
  }
  onConnection(listener: OperatorEvents['connection']): () => void {
    return this.emitter.on('connection', listener);
  }
  onReconnected(listener: OperatorEvents['reconnected']): () => void {
    return this.emitter.on('reconnected', listener);
  }

  /** One page of conversations, with members and live leg counts. */
  async listConversations(options: { page_size?: number; cursor?: string } = {}): Promise<{ conversations: ListedConversation[]; next_cursor?: string }> {
    const ack = await this.connection.request('conversation:list', options);
    return { conversations: ack.conversations as ListedConversation[], ...(typeof ack.next_cursor === 'string' && { next_cursor: ack.next_cursor }) };
  }

  /** Live legs, of one conversation or all. */
  async listLegs(conversationId?: string): Promise<LiveLeg[]> {
    const ack = await this.connection.request('leg:list', conversationId === undefined ? {} : { conversation_id: conversationId });
    return ack.legs as LiveLeg[];
  }

  /** Receives every event of these conversations (all when absent) from now on. */
  async watch(conversationIds?: string[]): Promise<void> {
    await this.connection.request('watch', conversationIds ? { conversation_ids: conversationIds } : {});
    this.watching = conversationIds ?? 'all';
  }

  async unwatch(): Promise<void> {
    await this.connection.request('unwatch', {});
    this.watching = undefined;
  }

  async mute(legId: string, on: boolean): Promise<void> {
    await this.act(legId, on ? 'mute' : 'unmute');
  }
  async earmuff(legId: string, on: boolean): Promise<void> {
    await this.act(legId, on ? 'earmuff' : 'unearmuff');
  }
  async videoMute(legId: string, on: boolean): Promise<void> {
    await this.act(legId, on ? 'video-mute' : 'video-unmute');
  }
  async hangup(legId: string): Promise<void> {
    await this.act(legId, 'hangup');
  }
  /** Moves the leg's member to another conversation (name or id). */
  async transfer(legId: string, conversation: string): Promise<void> {
    await this.act(legId, 'transfer', { conversation_id: conversation });
  }
  async play(legId: string, params: PlayParams): Promise<string> {
    return String((await this.act(legId, 'play', params)).play_id);
  }
  async say(legId: string, params: SayParams): Promise<string> {
    return String((await this.act(legId, 'say', params)).say_id);
  }
  /** Records the leg's own audio; resolves with the recording's id. */
  async record(legId: string, params: { format?: 'wav'; max_duration?: number } = {}): Promise<string> {
    return String((await this.act(legId, 'record', params)).recording_id);
  }
  async dtmf(legId: string, digits: string): Promise<void> {
    await this.act(legId, 'dtmf', { digits });
  }

  /** Any `leg:action` (see the socket protocol): `play:stop`, `say:stop`, `record:stop`… */
  async act(legId: string, action: string, params: object = {}): Promise<Record<string, unknown>> {
    return this.connection.request('leg:action', { ...params, leg_id: legId, action });
  }

  /** Answers a knock: admit or refuse. */
  async answerKnock(knockingId: string, admit: boolean): Promise<void> {
    await this.connection.request('knocking:answer', { knocking_id: knockingId, admit });
  }

  close(): void {
    this.connection.close();
  }

  private async renewWatch(): Promise<void> {
    if (this.watching === undefined) return;
    try {
      await this.watch(this.watching === 'all' ? undefined : this.watching);
    } catch {
      // A watched conversation may be gone; the page reads the lists again on `reconnected`.
    }
  }
}
