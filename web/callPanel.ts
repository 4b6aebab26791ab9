/**
 * The call controls: start and hang up, mute, video mute, earmuff, the DTMF keypad and the media
 * elements. Buttons reflect the state the gateway reports (an operator may mute this leg too).
 */
import { Call, type CallStatus, type LegwayClient } from '../client/index.js';
import { setPressed } from './callDom.js';
import type { VideoTiles } from './callVideos.js';

export interface CallPanelElements {
  call: HTMLButtonElement;
  withVideo: HTMLInputElement;
  mute: HTMLButtonElement;
  video: HTMLButtonElement;
  earmuff: HTMLButtonElement;
  status: HTMLElement;
  remoteAudio: HTMLAudioElement;
  keypad: HTMLElement;
}

export interface CallPanelHooks {
  /** Runs a user action: clears the previous error, shows this one's if it fails. */
  run: (action: () => Promise<unknown>) => Promise<void>;
  /** The current call changed (started, or replaced by a new one). */
  changed: (call: Call) => void;
}

/** `starting` covers asking for the microphone and the offer/answer, before a `Call` exists. */
type Phase = 'idle' | 'starting' | CallStatus;

export class CallPanel {
  private call: Call | undefined;
  private phase: Phase = 'idle';
  private endReason = '';
  private online = true;

  constructor(
    private readonly els: CallPanelElements,
    private readonly client: LegwayClient,
    private readonly conversationId: string,
    private readonly tiles: VideoTiles,
    private readonly hooks: CallPanelHooks,
  ) {
    els.call.addEventListener('click', () => void this.toggleCall());
    els.mute.addEventListener('click', () => void this.act((call) => call.mute(!call.media.muted)));
    els.video.addEventListener('click', () => void this.act((call) => call.videoMute(!call.media.video_muted)));
    els.earmuff.addEventListener('click', () => void this.act((call) => call.earmuff(!call.media.earmuffed)));
    for (const key of els.keypad.querySelectorAll<HTMLButtonElement>('button[data-digit]')) {
      const digit = key.dataset.digit ?? '';
      key.addEventListener('click', () => void this.act((call) => call.dtmf(digit)));
    }
    this.render();
  }

  /** The gateway connection is up (or not): starting a call needs it. */
  setOnline(online: boolean): void {
    this.online = online;
    this.render();
  }

  /** Ends the call, if any (the page is being left, or this member left the conversation). */
  async hangup(): Promise<void> {
    await this.call?.hangup();
  }

  private async toggleCall(): Promise<void> {
    const call = this.call;
    if (call && call.status !== 'ended') {
      await this.hooks.run(() => call.hangup());
      return;
    }
    this.phase = 'starting';
    this.render();
    await this.hooks.run(async () => {
      try {
        const started = await Call.start(this.client, this.conversationId, { audio: true, video: this.els.withVideo.checked });
        this.adopt(started);
      } finally {
        if (this.phase === 'starting') {
          this.phase = 'idle';
          this.render();
        }
      }
    });
  }

  private adopt(call: Call): void {
    this.call = call;
    this.phase = call.status;
    this.tiles.clear();
    this.tiles.showLocal(call.localStream);
    this.els.remoteAudio.srcObject = call.remoteStream;
    // The click that started the call allows playback; a refusal still leaves the controls usable.
    this.els.remoteAudio.play().catch(() => undefined);
    // Tracks of the first answer were announced inside Call.start, before anyone could listen.
    for (const track of call.remoteStream.getVideoTracks()) this.tiles.showRemote(track, []);
    call.on('track', (track, event) => this.tiles.showRemote(track, event.streams));
    call.on('media', () => this.render());
    call.on('status', (status, reason) => {
      this.phase = status;
      if (status === 'ended') {
        // The gateway's rtc:hangup (no reason) can reach the call before the client's own 'hung up'.
        this.endReason = reason === undefined || reason === 'rtc:hangup' ? 'hung up' : reason;
        this.tiles.clear();
        this.els.remoteAudio.srcObject = null;
      }
      this.render();
    });
    this.hooks.changed(call);
    this.render();
  }

  private async act(action: (call: Call) => Promise<void>): Promise<void> {
    const call = this.call;
    if (!call || call.status === 'ended') return;
    await this.hooks.run(() => action(call));
  }

  private render(): void {
    const { els, phase, call } = this;
    const live = call !== undefined && (phase === 'connecting' || phase === 'connected');
    const connected = live && phase === 'connected';
    const media = call?.media ?? { muted: false, earmuffed: false, video_muted: false };

    els.status.textContent = phase === 'ended' ? `ended: ${this.endReason}` : phase === 'starting' ? 'connecting' : phase;
    els.status.dataset.phase = phase;
    els.call.textContent = live ? 'Hang up' : 'Call';
    els.call.classList.toggle('primary', !live);
    els.call.classList.toggle('danger', live);
    els.call.disabled = phase === 'starting' || (!live && !this.online);
    els.withVideo.disabled = live || phase === 'starting';

    setPressed(els.mute, connected && media.muted, { off: 'Mute', on: 'Unmute' });
    setPressed(els.video, connected && media.video_muted, { off: 'Stop video', on: 'Start video' });
    setPressed(els.earmuff, connected && media.earmuffed, { off: 'Earmuff', on: 'Unearmuff' });
    this.tiles.setLocalMuted(connected && media.video_muted);
    els.mute.disabled = !connected;
    els.earmuff.disabled = !connected;
    els.video.disabled = !connected || call.localStream.getVideoTracks().length === 0;
    for (const key of els.keypad.querySelectorAll('button')) key.disabled = !connected;
  }
}
