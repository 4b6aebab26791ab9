/**
 * The receive side of one RTP audio stream, driven by the RTP timestamp (RFC 3550 §5.1): each packet
 * is placed on a sample timeline by its timestamp and covers as many samples as its payload decodes
 * to, and the timeline is carved into fixed ticks. So 10 to 120 ms packets, and a packetisation that
 * changes mid-call (ptime is a preference, not a promise: RFC 3264 §6.1), play as one continuous
 * stream, where the per-packet `JitterBuffer` assumed one packet per tick.
 *
 * Decisions, for whoever changes this:
 * - Overlap: a packet that starts before what has been played but ends after it is kept, decoded in
 *   its turn (stateful decoders see every packet in order) and trimmed: only its unplayed samples
 *   play. Every timeline position is handed out at most once, so nothing is ever repeated.
 * - Loss or pause: a gap before the next packet is a pause (silence, `silenceSamples`) when that
 *   packet's sequence number follows the last decoded one or it has the marker bit (a new talkspurt,
 *   as after telephone-events), and a loss (concealment) otherwise.
 * - Running dry: nothing held cannot be told from a late packet, a loss or a pause. The buffer
 *   conceals without moving the playhead, so that a late packet (the first of a bigger packetisation
 *   arrives later than its predecessors would have) still plays whole and the delay grows instead;
 *   if a gap follows, what was concealed counts against it. Spent (60 ms), it drains.
 * - Re-synchronisation: a new SSRC, a timestamp more than 3 s ahead of the newest, a timestamp behind
 *   the newest with a sequence number ahead of the highest, or a sequence jump over 1000 starts a new
 *   stream right after what is buffered, with the decoder reset at that point. Packets of the
 *   previous SSRC that straggle in just after a switch are dropped as late rather than switching back.
 * - Concealment repeats the last tick of audio played, fading linearly to silence over 60 ms.
 */
import { FadeConcealer } from './fadeConcealment.js';
import { HeldPackets, PlayoutTimeline } from './playoutTimeline.js';
import type { PacketDecoder, PlayoutOptions, PlayoutPacket, PlayoutStats } from './playoutTypes.js';

export type { PacketDecoder, PlayoutOptions, PlayoutPacket, PlayoutStats } from './playoutTypes.js';

const DEFAULT_TARGET_MS = 40;
const DEFAULT_MAX_MS = 200;
const CONCEAL_MS = 60;
/** Longer than any codec's packet (Opus tops out at 120 ms) and any ptime seen on trunks. */
const MAX_PACKET_MS = 240;
const EMPTY_PCM = new Int16Array(0);

/** Orders, decodes, conceals and paces one incoming RTP audio stream, one tick at a time. */
export class PlayoutBuffer {
  readonly stats: PlayoutStats = {
    packets: 0, late: 0, duplicate: 0, concealedSamples: 0, silenceSamples: 0, skippedSamples: 0,
    overflow: 0, resets: 0, undecodable: 0, lastPacketSamples: 0, lastPacketMs: 0,
  };
  private readonly decoder: PacketDecoder;
  private readonly samplesPerTick: number;
  private readonly frameSamples: number;
  private readonly sampleRate: number;
  private readonly targetSamples: number;
  private readonly maxSamples: number;
  private readonly maxPacketSamples: number;
  private readonly holdSamples: number;
  private readonly holdPackets: number;
  private readonly out: Int16Array;
  private readonly concealer: FadeConcealer;
  /** Overlapping spans are allowed: trimmed at playout. */
  private readonly held = new HeldPackets();
  /** Decoded PCM of the packet being played; [chunkPos, chunkEnd) is still to play, from `playPos` on. */
  private chunk: Int16Array = EMPTY_PCM;
  private chunkPos = 0;
  private chunkEnd = 0;
  private playing = false;
  /** Timeline position of the next sample handed out; kept across drains, to tell late packets. */
  private playPos = 0;
  /** Up to here the timeline is an undecodable packet's span: concealed whatever the sequence says. */
  private lossUntil = 0;
  /** Samples concealed while dry, the playhead held: owed back by the next gap, if there is one. */
  private stretched = 0;
  private resetPending = false;
  /** Set by `pause()` until the next packet. */
  private pausing = false;
  /** Sequence number and start of the last packet decoded. */
  private prevSeq: number | undefined;
  private prevStart = -Infinity;
  private readonly timeline: PlayoutTimeline;
  /** Nothing of this stream may start before here: it was appended after the previous stream's audio. */
  private streamFloor = -Infinity;

  constructor(options: PlayoutOptions) {
    const { decoder, frameSamples, sampleRate } = options;
    if (!Number.isInteger(frameSamples) || frameSamples <= 0) throw new RangeError(`frameSamples must be a positive integer, got ${frameSamples}`);
    if (!(sampleRate > 0)) throw new RangeError(`sampleRate must be positive, got ${sampleRate}`);
    if (!Number.isInteger(decoder.samplesPerTick) || decoder.samplesPerTick <= 0) throw new RangeError('samplesPerTick must be a positive integer');
    this.decoder = decoder;
    this.samplesPerTick = decoder.samplesPerTick;
    this.frameSamples = frameSamples;
    this.sampleRate = sampleRate;
    const ms = (value: number) => Math.round((value * sampleRate) / 1000);
    this.targetSamples = ms(Math.max(0, options.targetDelayMs ?? DEFAULT_TARGET_MS));
    this.maxSamples = Math.max(this.targetSamples + frameSamples, ms(options.maxDelayMs ?? DEFAULT_MAX_MS));
    this.maxPacketSamples = ms(MAX_PACKET_MS);
    this.holdSamples = Math.max(sampleRate, 2 * this.maxSamples);
    // As many 10 ms packets as fill the hold: 100 for one second.
    this.holdPackets = Math.ceil(this.holdSamples / ms(10));
    this.timeline = new PlayoutTimeline(this.samplesPerTick, sampleRate);
    this.out = new Int16Array(frameSamples);
    this.concealer = new FadeConcealer(frameSamples, ms(CONCEAL_MS));
  }

  /** Packets currently held. */
  get size(): number {
    return this.held.length;
  }

  /** Samples decoded or held but not yet handed out. */
  get bufferedSamples(): number {
    return this.chunkEnd - this.chunkPos + this.held.samples;
  }

  /**
   * The sender paused its audio on purpose (RFC 4733 events take its place): running dry until its
   * next audio packet is a pause, played as silence, not a loss to conceal.
   */
  pause(): void {
    this.pausing = true;
  }

  /** Adds one received packet; never throws, whatever the packet. */
  push(packet: PlayoutPacket): void {
    this.stats.packets++;
    this.pausing = false;
    const length = this.lengthOf(packet.payload);
    if (length === undefined) {
      this.stats.undecodable++;
      return;
    }
    const timeline = this.timeline;
    const location = timeline.locate(packet);
    if (location === 'straggler') {
      this.stats.late++;
      return;
    }
    if (location === 'new') this.resync(packet);
    const start = timeline.start;
    if (timeline.seenBefore() || start === this.prevStart) {
      this.stats.duplicate++;
      return;
    }
    if (start + length <= this.playPos || start < this.streamFloor) {
      this.stats.late++;
      return;
    }
    if (!this.held.insert(start, start + length, timeline.seq, packet.payload, location === 'new', packet.marker)) {
      this.stats.duplicate++;
      return;
    }
    timeline.accept();
    this.stats.lastPacketSamples = length;
    this.stats.lastPacketMs = (length * 1000) / this.sampleRate;

    while (this.held.length > this.holdPackets || this.held.samples > this.holdSamples) {
      this.dropHead();
      this.stats.overflow++;
    }
  }

  /** Exactly `frameSamples` of PCM for this tick, or undefined for silence (not started, drained, or after concealment ran out). The array is reused. */
  nextFrame(): Int16Array | undefined {
    if (!this.playing && !this.start()) return undefined;
    const target = this.effectiveTarget();
    if (this.bufferedSamples > Math.max(this.maxSamples, target + this.stats.lastPacketSamples + this.frameSamples)) this.skipTo(target);

    const n = this.frameSamples;
    let filled = 0;
    let audible = false;
    while (filled < n) {
      if (this.chunkPos < this.chunkEnd) {
        filled = this.play(filled);
        audible = true;
        continue;
      }
      const head = this.held.head;
      if (head !== undefined && head.start <= this.playPos) {
        this.decodeHead();
        continue;
      }
      if (head === undefined) {
        const count = this.pausing ? 0 : Math.min(n - filled, this.concealer.remaining);
        if (count === 0) {
          // Dry for as long as concealment covers: stop, and buffer the target again before playing.
          this.drain();
          break;
        }
        // Dry: a loss, or late, or a pause, no way to tell yet. Conceal without moving the playhead,
        // so that a late packet still plays whole (the delay grows instead); if it turns out to be a
        // gap, what was concealed here counts against it.
        audible = this.concealer.conceal(this.out, filled, count) || audible;
        this.stats.concealedSamples += count;
        this.stretched += count;
        filled += count;
        continue;
      }
      let count = Math.min(n - filled, head.start - this.playPos);
      if (this.stretched > 0) {
        count = Math.min(count, this.stretched);
        this.stretched -= count;
        this.playPos += count;
        continue;
      }
      // A talkspurt's first packet (marker) follows a pause whatever its sequence number says: a
      // sender's RFC 4733 events use up sequence numbers between two spurts of audio.
      let loss = !head.marker && (this.prevSeq === undefined || head.seq !== this.prevSeq + 1);
      if (this.playPos < this.lossUntil) {
        count = Math.min(count, this.lossUntil - this.playPos);
        loss = true;
      }
      if (loss) {
        audible = this.concealer.conceal(this.out, filled, count) || audible;
        this.stats.concealedSamples += count;
      } else {
        this.out.fill(0, filled, filled + count);
        // A pause ends the audio concealment could repeat.
        this.concealer.forget();
        this.stats.silenceSamples += count;
      }
      filled += count;
      this.playPos += count;
    }
    if (filled < n) this.out.fill(0, filled);
    return audible ? this.out : undefined;
  }

  /** Forgets everything, as for a new stream. */
  reset(): void {
    if (this.timeline.started || this.held.length > 0) this.stats.resets++;
    this.held.clear();
    this.chunkPos = this.chunkEnd = 0;
    this.chunk = EMPTY_PCM;
    this.playing = false;
    this.playPos = this.lossUntil = this.stretched = 0;
    this.prevSeq = undefined;
    this.prevStart = this.streamFloor = -Infinity;
    this.timeline.reset();
    this.concealer.forget();
    this.resetPending = false;
    this.decoder.reset();
  }

  /** Samples in the payload, or undefined when it cannot be played (unreadable, empty, too long). */
  private lengthOf(payload: Uint8Array): number | undefined {
    let ticks: number | undefined;
    try {
      ticks = this.decoder.duration(payload);
    } catch {
      return undefined;
    }
    if (ticks === undefined || !Number.isInteger(ticks) || ticks <= 0) return undefined;
    const samples = ticks * this.samplesPerTick;
    return samples > this.maxPacketSamples ? undefined : samples;
  }

  /** Makes `packet` the first of a new stream, placed right after what is buffered. */
  private resync(packet: PlayoutPacket): void {
    if (this.timeline.started) this.stats.resets++;
    const end = this.held.end(this.playPos + this.chunkEnd - this.chunkPos);
    const buffered = this.playing || this.held.length > 0;
    this.streamFloor = buffered ? end : -Infinity;
    this.prevSeq = undefined;
    // With nothing buffered, anchor well ahead of the last playout, so that packets reordered before
    // this one still fit; starting jumps the playhead to them anyway.
    this.timeline.begin(packet, buffered ? end : this.playPos + this.holdSamples);
  }

  /** Starts playing once the target is buffered. */
  private start(): boolean {
    const head = this.held.head;
    if (head === undefined || this.held.samples < this.effectiveTarget()) return false;
    this.playing = true;
    if (head.start > this.playPos) this.playPos = head.start;
    this.prevSeq = undefined;
    this.concealer.forget();
    return true;
  }

  /**
   * The target, raised for packets longer than a tick: they arrive in steps of their length, and
   * the buffer must not run dry while waiting for the next one.
   */
  private effectiveTarget(): number {
    return this.targetSamples + Math.max(0, this.stats.lastPacketSamples - this.frameSamples);
  }

  /** Drops the oldest audio (gaps cost nothing) until `target` is left: one glitch, then on time. */
  private skipTo(target: number): void {
    let excess = this.bufferedSamples - target;
    let skipped = Math.min(excess, this.chunkEnd - this.chunkPos);
    this.chunkPos += skipped;
    this.playPos += skipped;
    excess -= skipped;
    for (let head = this.held.head; head !== undefined && excess > 0; head = this.held.head) {
      if (head.start > this.playPos) this.playPos = head.start;
      const left = head.end - this.playPos;
      if (left > excess) {
        // Its start is trimmed when it is decoded.
        this.playPos += excess;
        skipped += excess;
        break;
      }
      excess -= head.end - head.start;
      skipped += Math.max(0, left);
      this.playPos = Math.max(this.playPos, head.end);
      this.dropHead();
    }
    this.stats.skippedSamples += skipped;
    // The delay it added is gone: owed to no gap.
    this.stretched = 0;
  }

  /** Takes the head packet off and makes it the chunk to play, trimmed to `playPos`; conceals it if it fails. */
  private decodeHead(): void {
    const head = this.held.head;
    if (head === undefined) return;
    // Read before `shift` hands the object back to the pool.
    const { start, end, seq, payload } = head;
    const reset = head.reset || this.resetPending;
    this.held.shift();
    if (end <= this.playPos) {
      // Wholly inside audio already played (an overlapping packet).
      this.stats.late++;
      this.resetPending = reset;
      return;
    }
    if (reset) this.decoder.reset();
    this.resetPending = false;
    this.prevSeq = seq;
    this.prevStart = start;
    let pcm: Int16Array | undefined;
    try {
      pcm = this.decoder.decode(payload);
    } catch {
      pcm = undefined;
    }
    if (pcm === undefined || pcm.length < end - start) {
      this.stats.undecodable++;
      this.lossUntil = end;
      // Whatever state it was left in would colour the next packet.
      this.resetPending = true;
    } else {
      this.chunk = pcm;
      this.chunkPos = this.playPos - start;
      this.chunkEnd = end - start;
    }
  }

  /** Copies decoded samples into the frame from `filled` on; returns how far it is filled. */
  private play(filled: number): number {
    const count = Math.min(this.chunkEnd - this.chunkPos, this.frameSamples - filled);
    this.concealer.play(this.chunk, this.chunkPos, this.out, filled, count);
    this.chunkPos += count;
    this.playPos += count;
    // The audio came after all: what was concealed while dry is delay added, owed to no gap.
    this.stretched = 0;
    return filled + count;
  }

  private drain(): void {
    this.playing = false;
    this.stretched = 0;
    this.chunkPos = this.chunkEnd = 0;
    this.prevSeq = undefined;
    this.resetPending = true;
    this.stats.resets++;
  }

  private dropHead(): void {
    this.held.shift();
    // The decoder will not see this packet: what follows is a discontinuity.
    this.resetPending = true;
  }
}
