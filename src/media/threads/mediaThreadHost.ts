import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';
import { fail, LegwayError } from '../../domain/errors.js';
import { AudioBridge } from '../bridge/audioBridge.js';
import { OpusLegAudio, type LegAudio } from '../bridge/legAudio.js';
import { Player, Tap, type EndReason } from '../bridge/sources.js';
import { FRAME_SAMPLES } from '../audio/frame.js';
import { RtpEndpoint } from '../rtp/rtpEndpoint.js';
import { RtpLegAudio } from '../rtp/rtpLegAudio.js';
import type { FromThread, LoopbackAudio, RtpSnapshot, Snapshot, ToThread } from './protocol.js';
import { ThreadLoopback } from './threadLoopback.js';

/** Frames of a tap sent back to the main thread at once (100 ms): fewer messages, still prompt. */
const TAP_BATCH = 5;
/** How often the thread sends its bridges' and endpoints' statistics (what `GET /v1/legs/:id` shows). */
const SNAPSHOT_MS = 250;

interface SipMedia {
  endpoint: RtpEndpoint;
  audio: RtpLegAudio | undefined;
}

/**
 * What a media thread runs: the audio bridges of the conversations placed on it, with the audio
 * sockets of their legs (SIP RTP endpoints, WebRTC loopback sockets), driven by messages from the
 * main thread. Ticks run on this thread's own event loop, which nothing else shares.
 */
export class MediaThreadHost {
  private readonly bridges = new Map<string, AudioBridge>();
  private readonly rtp = new Map<string, SipMedia>();
  private readonly loops = new Map<string, ThreadLoopback>();
  private readonly players = new Map<string, Player>();
  private readonly taps = new Map<string, Tap>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly post: (message: FromThread, transfer?: ArrayBuffer[]) => void,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => this.post({ t: 'snapshot', req: undefined, snapshot: this.snapshot() }), SNAPSHOT_MS);
  }

  /** Handles one message; a failing request is answered with its error, anything else is logged. */
  handle(m: ToThread): void {
    try {
      this.dispatch(m);
    } catch (err) {
      if ('req' in m) this.fail(m.req, err);
      else this.logger.error({ err, message: m.t }, 'media thread message failed');
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const bridge of this.bridges.values()) bridge.close();
  }

  private dispatch(m: ToThread): void {
    switch (m.t) {
      case 'rtpOpen':
        this.answer(m.req, async () => {
          const endpoint = await RtpEndpoint.open({ ...m.options, logger: this.logger, logBindings: { leg_media: m.id } });
          endpoint.on('dtmf', (press) => this.post({ t: 'rtpDtmf', id: m.id, press: { digit: press.digit, durationMs: press.durationMs }, method: 'rfc4733' }));
          endpoint.on('inactive', ({ idleMs }) => this.post({ t: 'rtpInactive', id: m.id, idleMs }));
          endpoint.on('learned', (source) => this.post({ t: 'rtpLearned', id: m.id, source }));
          this.rtp.set(m.id, { endpoint, audio: undefined });
          return { port: endpoint.port };
        });
        return;
      case 'rtpUse':
        if (m.signallingSource !== undefined) this.sip(m.id)?.endpoint.setSignallingSource(m.signallingSource);
        return;
      case 'rtpConfigure':
        this.sip(m.id)?.endpoint.configure(m.config);
        return;
      case 'rtpRemote':
        this.sip(m.id)?.endpoint.setRemote(m.remote);
        return;
      case 'rtpHold':
        this.sip(m.id)?.endpoint.hold(m.direction);
        return;
      case 'rtpAudio': {
        const sip = this.sip(m.id);
        if (!sip) return;
        sip.audio?.close();
        const inband = m.inband ? (press: { digit: string; durationMs: number }) => this.post({ t: 'rtpDtmf', id: m.id, press, method: 'inband' }) : undefined;
        sip.audio = new RtpLegAudio(sip.endpoint, inband);
        return;
      }
      case 'rtpDtmf': {
        const sip = this.sip(m.id);
        if (!sip) throw fail('InvalidState', 'the RTP endpoint is closed');
        this.answer(m.req, async () => {
          await sip.endpoint.sendDtmf(m.digits);
          return {};
        });
        return;
      }
      case 'rtpClose': {
        const sip = this.rtp.get(m.id);
        this.rtp.delete(m.id);
        this.answer(m.req, async () => {
          await sip?.endpoint.close();
          // Its last figures, for the totals of ended calls (the snapshots no longer carry it).
          return sip ? { final: { stats: sip.endpoint.stats, playout: sip.audio?.playoutStats, lastPacketAt: sip.endpoint.lastPacketAt } } : {};
        });
        return;
      }
      case 'loopOpen':
        this.answer(m.req, async () => {
          const loop = await ThreadLoopback.open(m.id, m.port);
          this.loops.set(m.id, loop);
          return { port: loop.port };
        });
        return;
      case 'loopConnect':
        void this.loops.get(m.id)?.connect(m.audio);
        return;
      case 'loopSecured': {
        const loop = this.loops.get(m.id);
        if (loop) loop.secured = m.on;
        return;
      }
      case 'loopClose': {
        const loop = this.loops.get(m.id);
        this.loops.delete(m.id);
        const state = loop?.mixState;
        this.answer(m.req, async () => {
          await loop?.close();
          return state === undefined ? {} : { state };
        });
        return;
      }
      case 'addLeg': {
        const audio = this.legAudio(m.media);
        if (audio) this.bridge(m.conv, m.maxSpeakers).addLeg(m.legId, audio);
        return;
      }
      case 'remove':
        this.bridges.get(m.conv)?.remove(m.legId);
        this.dropIfEmpty(m.conv);
        return;
      case 'move':
        this.bridges.get(m.from)?.moveLeg(m.legId, this.bridge(m.to, m.maxSpeakers));
        this.dropIfEmpty(m.from);
        return;
      case 'set': {
        const bridge = this.bridges.get(m.conv);
        if (m.what === 'muted') bridge?.setMuted(m.legId, m.on);
        else if (m.what === 'held') bridge?.setHeld(m.legId, m.on);
        else bridge?.setEarmuffed(m.legId, m.on);
        return;
      }
      case 'audience':
        this.bridges.get(m.conv)?.setAudience(m.legId, { canHear: m.canHear, canSpeak: m.canSpeak });
        return;
      case 'play': {
        const player = new Player(m.id, m.samples, { loop: m.loop, level: m.level, legId: m.legId }, (reason) => this.playerEnded(m.id, reason));
        const bridge = this.bridges.get(m.conv);
        this.players.set(m.id, player);
        if (bridge) bridge.play(player);
        else player.end('closed');
        return;
      }
      case 'stopPlayer':
        this.players.get(m.id)?.end('stopped');
        return;
      case 'tap':
        this.startTap(m.conv, m.id, m.legId);
        return;
      case 'stopTap':
        this.taps.get(m.id)?.end('stopped');
        return;
      case 'closeBridge':
        this.bridges.get(m.conv)?.close();
        this.bridges.delete(m.conv);
        return;
      case 'snapshot':
        if (m.collect) collectGarbage();
        this.post({ t: 'snapshot', req: m.req, snapshot: this.snapshot() });
        return;
    }
  }

  private sip(id: string): SipMedia | undefined {
    return this.rtp.get(id);
  }

  private legAudio(media: { kind: 'sip' | 'webrtc'; id: string }): LegAudio | undefined {
    if (media.kind === 'sip') return this.rtp.get(media.id)?.audio;
    const loop = this.loops.get(media.id);
    return loop && new OpusLegAudio(loop);
  }

  private bridge(conv: string, maxSpeakers: number | undefined): AudioBridge {
    let bridge = this.bridges.get(conv);
    if (!bridge) {
      bridge = new AudioBridge(conv, (legId, on) => this.post({ t: 'speaking', conv, legId, on }), this.logger.child({ component: 'bridge', conversation_id: conv }), {
        maxSpeakers,
      });
      this.bridges.set(conv, bridge);
    }
    return bridge;
  }

  private dropIfEmpty(conv: string): void {
    const bridge = this.bridges.get(conv);
    if (bridge && bridge.size === 0) {
      bridge.close();
      this.bridges.delete(conv);
    }
  }

  private playerEnded(id: string, reason: EndReason): void {
    this.players.delete(id);
    this.post({ t: 'playerEnded', id, reason });
  }

  private startTap(conv: string, id: string, legId: string | undefined): void {
    let batch = new Int16Array(FRAME_SAMPLES * TAP_BATCH);
    let filled = 0;
    const flush = (): void => {
      if (filled === 0) return;
      const pcm = filled === TAP_BATCH ? batch : batch.slice(0, filled * FRAME_SAMPLES);
      this.post({ t: 'tapFrames', id, pcm }, [pcm.buffer]);
      batch = new Int16Array(FRAME_SAMPLES * TAP_BATCH);
      filled = 0;
    };
    const sink = (frame: Int16Array): void => {
      batch.set(frame, filled * FRAME_SAMPLES);
      if (++filled === TAP_BATCH) flush();
    };
    const tap = new Tap(id, legId, sink, (reason) => {
      flush();
      this.taps.delete(id);
      this.post({ t: 'tapEnded', id, reason });
    });
    this.taps.set(id, tap);
    const bridge = this.bridges.get(conv);
    if (bridge) bridge.tap(tap);
    else tap.end('closed');
  }

  private snapshot(): Snapshot {
    const bridges: Snapshot['bridges'] = {};
    for (const [conv, bridge] of this.bridges) {
      const legs: Snapshot['bridges'][string]['legs'] = {};
      for (const legId of bridge.legIds()) {
        const stats = bridge.legStats(legId);
        if (stats) legs[legId] = { ...stats };
      }
      bridges[conv] = { stats: bridge.stats, legs };
    }
    const rtp: Record<string, RtpSnapshot> = {};
    for (const [id, { endpoint, audio }] of this.rtp) rtp[id] = { stats: endpoint.stats, playout: audio?.playoutStats, lastPacketAt: endpoint.lastPacketAt };
    const heap = getHeapStatistics();
    const objects = { bridges: this.bridges.size, rtp: this.rtp.size, loops: this.loops.size, players: this.players.size, taps: this.taps.size };
    return { bridges, rtp, memory: { heapUsed: heap.used_heap_size, heapTotal: heap.total_heap_size, external: heap.external_memory, objects } };
  }

  private answer(req: number, work: () => Promise<{ port?: number; state?: LoopbackAudio['mix']; final?: RtpSnapshot }>): void {
    work().then(
      (result) => this.post({ t: 'reply', req, ok: true, ...result }),
      (err: unknown) => this.fail(req, err),
    );
  }

  private fail(req: number, err: unknown): void {
    this.post({ t: 'reply', req, ok: false, code: err instanceof LegwayError ? err.code : undefined, message: err instanceof Error ? err.message : String(err) });
  }
}

let gc: (() => void) | undefined;

/** A full collection of this thread's heap (V8's gc(), made available to this thread on first use). */
function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
