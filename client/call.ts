import type { LegwayClient, RtcOfferPush } from './client.js';
import { Emitter } from './emitter.js';
import { LegwayClientError } from './errors.js';
import type { LegwayEvent } from './events.js';

export interface CallOptions {
  /** Send audio (default true); constraints are passed to getUserMedia. */
  audio?: boolean | MediaTrackConstraints;
  /** Send video too (default false). */
  video?: boolean | MediaTrackConstraints;
  /** Use this stream instead of asking getUserMedia (its tracks are not stopped by the call). */
  stream?: MediaStream;
  /** Passed to RTCPeerConnection (ICE servers, …). */
  rtcConfiguration?: RTCConfiguration;
  /** Longest wait for local ICE candidates before the offer goes out (default 3 s). */
  gatheringTimeoutMs?: number;
}

/** `connecting` until media flows, `connected`, then `ended` (for good). */
export type CallStatus = 'connecting' | 'connected' | 'ended';

export interface CallMedia {
  muted: boolean;
  earmuffed: boolean;
  video_muted: boolean;
}

type CallEvents = {
  status: (status: CallStatus, reason?: string) => void;
  /** A remote track arrived: the conversation's audio mix, or another member's video. */
  track: (track: MediaStreamTrack, event: RTCTrackEvent) => void;
  /** Mute, earmuff or video mute changed (by this user or by an operator). */
  media: (media: CallMedia) => void;
};

const TOGGLE_EVENTS: Record<string, [keyof CallMedia, boolean]> = {
  'audio:mute:on': ['muted', true],
  'audio:mute:off': ['muted', false],
  'audio:earmuff:on': ['earmuffed', true],
  'audio:earmuff:off': ['earmuffed', false],
  'video:mute:on': ['video_muted', true],
  'video:mute:off': ['video_muted', false],
};

async function gathered(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = (): void => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * One WebRTC leg of this user in a conversation: the microphone (and camera) go to the gateway's
 * audio bridge, the conversation's mix (and the others' video) come back on `remoteStream`.
 */
export class Call extends Emitter<CallEvents> {
  readonly remoteStream = new MediaStream();
  private current: CallStatus = 'connecting';
  private readonly state: CallMedia = { muted: false, earmuffed: false, video_muted: false };
  private readonly cleanups: (() => void)[] = [];
  /** Renegotiations run one at a time, in the order the gateway sent them. */
  private negotiation: Promise<void> = Promise.resolve();

  private constructor(
    private readonly client: LegwayClient,
    readonly conversationId: string,
    readonly legId: string,
    readonly pc: RTCPeerConnection,
    readonly localStream: MediaStream,
    private readonly ownsStream: boolean,
  ) {
    super();
  }

  /** Starts a call in a joined conversation (asks for the microphone unless `stream` is given). */
  static async start(client: LegwayClient, conversationId: string, options: CallOptions = {}): Promise<Call> {
    const ownsStream = options.stream === undefined;
    let stream: MediaStream;
    try {
      stream = options.stream ?? (await navigator.mediaDevices.getUserMedia({ audio: options.audio ?? true, video: options.video ?? false }));
    } catch (err) {
      throw new LegwayClientError('MediaFailed', `microphone or camera unavailable: ${err instanceof Error ? err.message : String(err)}`);
    }
    const pc = new RTCPeerConnection(options.rtcConfiguration);
    const early: RTCTrackEvent[] = [];
    pc.ontrack = (e) => early.push(e);
    try {
      for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendrecv', streams: [stream] });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, options.gatheringTimeoutMs ?? 3000);
      const sdp = pc.localDescription?.sdp ?? '';
      const ack = await client.request('rtc:new', { conversation_id: conversationId, offer: { type: 'offer', sdp } });
      const answer = ack.answer as { type: 'answer'; sdp: string };
      const call = new Call(client, conversationId, String(ack.leg_id), pc, stream, ownsStream);
      call.wire();
      for (const e of early) call.addRemote(e);
      await pc.setRemoteDescription(answer);
      return call;
    } catch (err) {
      pc.close();
      if (ownsStream) for (const track of stream.getTracks()) track.stop();
      throw err;
    }
  }

  get status(): CallStatus {
    return this.current;
  }

  /** Mute, earmuff and video-mute state as the gateway reports it. */
  get media(): CallMedia {
    return { ...this.state };
  }

  /** Takes this leg's audio out of the mix (or puts it back). */
  async mute(on: boolean): Promise<void> {
    await this.client.request('leg:mute', { leg_id: this.legId, on });
  }

  /** Stops (or resumes) hearing the conversation. */
  async earmuff(on: boolean): Promise<void> {
    await this.client.request('leg:earmuff', { leg_id: this.legId, on });
  }

  /** Stops (or resumes) forwarding this leg's video to the others. */
  async videoMute(on: boolean): Promise<void> {
    await this.client.request('leg:video-mute', { leg_id: this.legId, on });
  }

  /** Sends DTMF keys (0-9, *, #, A-D) into the conversation. */
  async dtmf(digits: string): Promise<void> {
    await this.client.request('leg:dtmf', { leg_id: this.legId, digits });
  }

  /** Hangs up; the call ends even when the gateway cannot be told (disconnected). */
  async hangup(): Promise<void> {
    if (this.current === 'ended') return;
    try {
      await this.client.request('rtc:hangup', { leg_id: this.legId });
    } finally {
      this.end('hung up');
    }
  }

  private wire(): void {
    const { pc } = this;
    pc.ontrack = (e) => this.addRemote(e);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected' && this.current === 'connecting') this.setStatus('connected');
      if (pc.connectionState === 'failed') {
        void this.client.request('rtc:hangup', { leg_id: this.legId }).catch(() => undefined);
        this.end('media connection failed');
      }
    };
    pc.onicecandidate = (e) => {
      // Candidates found after the offer went out trickle to the gateway.
      if (e.candidate) void this.client.request('rtc:ice', { leg_id: this.legId, candidate: e.candidate.toJSON() }).catch(() => undefined);
    };
    this.cleanups.push(
      this.client.handleOffers(this.legId, (push) => this.renegotiate(push)),
      this.client.onAny((event) => this.observe(event)),
    );
  }

  private addRemote(e: RTCTrackEvent): void {
    this.remoteStream.addTrack(e.track);
    e.track.addEventListener('ended', () => this.remoteStream.removeTrack(e.track));
    this.emit('track', e.track, e);
  }

  private renegotiate(push: RtcOfferPush): void {
    this.negotiation = this.negotiation.then(async () => {
      if (this.current === 'ended') return;
      try {
        await this.pc.setRemoteDescription(push.offer);
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        await this.client.request('rtc:answer', { leg_id: this.legId, answer: { type: 'answer', sdp: this.pc.localDescription?.sdp ?? '' } });
      } catch {
        // A failed renegotiation leaves the media already flowing as it was; the next offer tries again.
      }
    });
  }

  private observe(event: LegwayEvent): void {
    const body = event.body as { leg_id?: unknown; reason?: unknown };
    // Leg ids are unique across conversations, so a transferred leg is still recognised.
    if (body.leg_id !== this.legId) return;
    const toggle = TOGGLE_EVENTS[event.type];
    if (toggle) {
      this.state[toggle[0]] = toggle[1];
      this.emit('media', this.media);
      return;
    }
    if (event.type === 'rtc:hangup' || event.type === 'rtc:terminate') {
      this.end(typeof body.reason === 'string' ? body.reason : event.type);
    }
  }

  private setStatus(status: CallStatus, reason?: string): void {
    this.current = status;
    this.emit('status', status, reason);
  }

  private end(reason: string): void {
    if (this.current === 'ended') return;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.pc.close();
    if (this.ownsStream) for (const track of this.localStream.getTracks()) track.stop();
    this.setStatus('ended', reason);
  }
}
