/**
 * Messages between the main thread and a media thread (./mediaThreadMain.ts). Control goes in
 * (small, structured-clone), events and snapshots come out; audio packets never cross: each media
 * thread owns the sockets of the legs whose conversations it bridges.
 */
import type { BridgeStats } from '../bridge/audioBridge.js';
import type { LegInputStats } from '../bridge/bridgeLeg.js';
import type { EndReason } from '../bridge/sources.js';
import type { DtmfPress } from '../rtp/dtmf.js';
import type { PlayoutStats } from '../rtp/playoutBuffer.js';
import type { MediaDirection, RtpCodecConfig, RtpEndpointOptions, RtpStats } from '../rtp/rtpEndpoint.js';
import type { UdpAddress } from '../rtp/udpAddress.js';

/** RtpEndpointOptions without the logger (the thread makes its own); structured-clone safe. */
export type RtpOpenOptions = Omit<RtpEndpointOptions, 'logger'>;

/** Where a WebRTC leg's audio goes in and out of the router (a PlainTransport on loopback). */
export interface LoopbackAudio {
  /** The transport's port on 127.0.0.1: the only source accepted, and where the mix goes. */
  remotePort: number;
  /** The peer's audio as the transport forwards it; none when the peer sends none. */
  inbound?: { payloadType: number | undefined; ssrc: number | undefined; levelId: number | undefined };
  /** The mix's RTP stream; none when the peer receives no audio. */
  mix?: { payloadType: number; ssrc: number; sequenceNumber?: number; timestamp?: number };
}

/** A leg's media on the thread, as the bridge takes it. */
export type LegMediaRef = { kind: 'sip'; id: string } | { kind: 'webrtc'; id: string };

export type ToThread =
  | { t: 'rtpOpen'; req: number; id: string; options: RtpOpenOptions }
  | { t: 'rtpUse'; id: string; signallingSource: string | undefined }
  | { t: 'rtpConfigure'; id: string; config: RtpCodecConfig }
  | { t: 'rtpRemote'; id: string; remote: UdpAddress & { rtcpPort?: number | undefined } }
  | { t: 'rtpHold'; id: string; direction: MediaDirection }
  | { t: 'rtpAudio'; id: string; inband: boolean }
  | { t: 'rtpDtmf'; req: number; id: string; digits: string }
  | { t: 'rtpClose'; req: number; id: string }
  | { t: 'loopOpen'; req: number; id: string; port?: number }
  | { t: 'loopConnect'; id: string; audio: LoopbackAudio }
  | { t: 'loopSecured'; id: string; on: boolean }
  | { t: 'loopClose'; req: number; id: string }
  | { t: 'addLeg'; conv: string; legId: string; media: LegMediaRef; maxSpeakers: number | undefined }
  | { t: 'remove'; conv: string; legId: string }
  | { t: 'move'; from: string; to: string; legId: string; maxSpeakers: number | undefined }
  | { t: 'set'; conv: string; legId: string; what: 'muted' | 'held' | 'earmuffed'; on: boolean }
  | { t: 'audience'; conv: string; legId: string; canHear: string[] | undefined; canSpeak: string[] | undefined }
  | { t: 'play'; conv: string; id: string; samples: Int16Array; loop: number; level: number; legId: string | undefined }
  | { t: 'stopPlayer'; conv: string; id: string }
  | { t: 'tap'; conv: string; id: string; legId: string | undefined }
  | { t: 'stopTap'; conv: string; id: string }
  | { t: 'closeBridge'; conv: string }
  /** `collect`: a full garbage collection first, so the memory figures count only what is held (diagnostics, the soak). */
  | { t: 'snapshot'; req: number; collect?: boolean };

/** One SIP endpoint's numbers, as the main thread reads them (`GET /v1/legs/:id`). */
export interface RtpSnapshot {
  stats: RtpStats;
  playout: (PlayoutStats & { codec: string }) | undefined;
  lastPacketAt: number | undefined;
}

export interface Snapshot {
  bridges: Record<string, { stats: BridgeStats; legs: Record<string, LegInputStats> }>;
  rtp: Record<string, RtpSnapshot>;
  /** The thread's own JavaScript heap in use, in bytes, and the media objects it holds (absent before the first snapshot). */
  memory?: { heapUsed: number; heapTotal: number; external: number; objects: { bridges: number; rtp: number; loops: number; players: number; taps: number } };
}

export type FromThread =
  | { t: 'reply'; req: number; ok: true; port?: number; state?: LoopbackAudio['mix']; final?: RtpSnapshot }
  | { t: 'reply'; req: number; ok: false; code: string | undefined; message: string }
  | { t: 'speaking'; conv: string; legId: string; on: boolean }
  | { t: 'playerEnded'; id: string; reason: EndReason }
  | { t: 'tapFrames'; id: string; pcm: Int16Array }
  | { t: 'tapEnded'; id: string; reason: EndReason }
  | { t: 'rtpDtmf'; id: string; press: DtmfPress; method: 'rfc4733' | 'inband' }
  | { t: 'rtpInactive'; id: string; idleMs: number }
  | { t: 'rtpLearned'; id: string; source: UdpAddress & { how: 'expected' | 'probation' } }
  | { t: 'snapshot'; req: number | undefined; snapshot: Snapshot }
  | { t: 'log'; level: 'warn' | 'error'; msg: string; err?: string };
