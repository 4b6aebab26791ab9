/**
 * RTP source learning for a SIP leg: which source its media is taken from, and where its media is
 * sent (symmetric RTP, RFC 4961), in the spirit of Asterisk's `strictrtp` learning and rtpengine's.
 * Pure: no sockets, no timers; the caller passes its clock (`nowMs`) in.
 *
 * Policy:
 * - Expected IPs: the remote SDP's connection address (unless unspecified 0.0.0.0/::) and the IP the
 *   call's SIP signalling came from (a NAT maps both to one public IP). Compared by IP only (a NAT
 *   may change the port), IPv4-mapped IPv6 as IPv4.
 * - Nothing is accepted before `setRemote`. `setRemote` again (after a re-INVITE) forgets what was
 *   learned and learns anew; if the phone had been learned from an expected IP, the re-offer counts
 *   as hearing from it at `nowMs` (strangers wait `expectedQuietMs` while it reappears).
 * - A packet from an expected IP is accepted at once and its exact address:port learned ("expected"),
 *   also taking over from a source learned by probation; not from one learned as expected, unless
 *   that one has been silent for `relearnAfterMs`. So a NAT changing the phone's port mid-call is
 *   followed once the old port has been silent that long; until then the new port is rejected.
 * - Any other address:port is learned only by probation: `probationPackets` consecutive packets
 *   (sequence number +1 each, one SSRC) from it, while nothing has come from an expected IP for
 *   `expectedQuietMs`. The packet completing probation is accepted and learned ("probation"); the
 *   ones before are dropped, so a stranger neither hears nor injects anything meanwhile. A sequence
 *   break or another SSRC restarts a candidate's probation; each address:port is its own candidate,
 *   and at most `MAX_PROBATION_CANDIDATES` are tracked (least recently heard evicted), so a sprayer
 *   rotating ports gets nowhere and cannot grow memory. Expected-IP packets clear all probation.
 * - Once learned, every other source is dropped and counted, but for the expected-IP takeover above
 *   and re-learning by the same rules once the learned source has been silent for `relearnAfterMs`.
 * - Media goes to the learned source once learned; before that to the SDP address, unless it is
 *   unspecified (c=0.0.0.0 is old-style hold) or its port is 0: then nowhere.
 */
import { isUnspecified, normalizeIp, type UdpAddress } from './udpAddress.js';

/** Tuning of `SourceLearning`; all positive integers. */
export interface SourceLearningOptions {
  /** Consecutive in-sequence packets a source not at an expected IP must send to be learned (5). */
  probationPackets?: number;
  /** How long (ms) after the last packet from an expected IP no other source can be learned (1000). */
  expectedQuietMs?: number;
  /** How long (ms) the learned source must be silent before another can be learned (3000). */
  relearnAfterMs?: number;
  /** The IP the call's SIP signalling came from, if known now (see `setSignallingSource`). */
  signallingSource?: string | undefined;
}

export const SOURCE_LEARNING_DEFAULTS = { probationPackets: 5, expectedQuietMs: 1000, relearnAfterMs: 3000 } as const;

/** At most this many sources are on probation at once. */
export const MAX_PROBATION_CANDIDATES = 4;

/** The source packets are taken from, and how it was learned. */
export interface LearnedSource {
  readonly address: string;
  readonly port: number;
  /** 'expected': from an expected IP, at once; 'probation': after a probation. */
  readonly how: 'expected' | 'probation';
  /** `nowMs` when it was learned. */
  readonly since: number;
}

/** Counters for one leg's stream. */
export interface SourceLearningStats {
  /** Packets dropped as not from the learned source (or from any source before `setRemote`). */
  droppedWrongSource: number;
  /** Packets dropped while their source was on probation. */
  droppedProbation: number;
  /** Times a source was learned (the first, re-learned, taken over). */
  learnedCount: number;
  /** Times a source from an expected IP took over from one learned by probation while it still sent. */
  takeovers: number;
}

/**
 * What `SourceLearning.check` decided: 'accept' the packet; 'learned': accept it, and its source is
 * the newly learned one; 'probation' or 'reject': drop it.
 */
export type SourceVerdict = 'accept' | 'learned' | 'probation' | 'reject';

interface Candidate {
  ssrc: number;
  seq: number;
  count: number;
}

/** The source learning state of one stream; see the policy above. */
export class SourceLearning {
  private readonly probationPackets: number;
  private readonly expectedQuietMs: number;
  private readonly relearnAfterMs: number;
  private remote: UdpAddress | undefined;
  private sdpIp: string | undefined;
  private signallingIp: string | undefined;
  private current: LearnedSource | undefined;
  /** `nowMs` of the last packet accepted from the learned source. */
  private lastHeardMs = 0;
  /** `nowMs` of the last packet from an expected IP, accepted or not. */
  private lastExpectedMs: number | undefined;
  /** Sources on probation by "ip port", least recently heard first. */
  private readonly candidates = new Map<string, Candidate>();
  private readonly counters: SourceLearningStats = { droppedWrongSource: 0, droppedProbation: 0, learnedCount: 0, takeovers: 0 };

  /** @throws RangeError when an option is not a positive integer. */
  constructor(options: SourceLearningOptions = {}) {
    this.probationPackets = positiveInteger('probationPackets', options.probationPackets);
    this.expectedQuietMs = positiveInteger('expectedQuietMs', options.expectedQuietMs);
    this.relearnAfterMs = positiveInteger('relearnAfterMs', options.relearnAfterMs);
    if (options.signallingSource !== undefined) this.setSignallingSource(options.signallingSource);
  }

  /** Takes the remote SDP's address and port (again after a re-INVITE); forgets what was learned. */
  setRemote(sdp: UdpAddress, nowMs: number): void {
    if (this.current?.how === 'expected') this.lastExpectedMs = nowMs;
    const ip = normalizeIp(sdp.address);
    this.remote = { address: ip, port: sdp.port };
    this.sdpIp = isUnspecified(ip) ? undefined : ip;
    this.current = undefined;
    this.candidates.clear();
  }

  /** Takes the IP the call's SIP signalling came from (not an IP, or unspecified: none). */
  setSignallingSource(ip: string): void {
    const normalized = normalizeIp(ip);
    this.signallingIp = isUnspecified(normalized) ? undefined : normalized;
  }

  /** The source packets are taken from, once learned. */
  get learned(): LearnedSource | undefined {
    return this.current;
  }

  /** Where to send: the learned source, else the SDP address unless unspecified or port 0. */
  get destination(): UdpAddress | undefined {
    if (this.current) return { address: this.current.address, port: this.current.port };
    if (this.remote === undefined || this.sdpIp === undefined || this.remote.port === 0) return undefined;
    return { ...this.remote };
  }

  /** A source is learned, or the SDP names somewhere media may be sent. */
  get expectsMedia(): boolean {
    return this.current !== undefined || this.destination !== undefined;
  }

  /** A snapshot of the counters. */
  get stats(): SourceLearningStats {
    return { ...this.counters };
  }

  /** How many sources are on probation now (at most `MAX_PROBATION_CANDIDATES`). */
  get probationCandidates(): number {
    return this.candidates.size;
  }

  /** Decides for a well-formed RTP packet from `source`; 'accept' and 'learned' keep it. */
  check(source: UdpAddress, ssrc: number, sequenceNumber: number, nowMs: number): SourceVerdict {
    if (this.remote === undefined) return this.reject();
    const ip = normalizeIp(source.address);
    const current = this.current;
    if (current?.address === ip && current.port === source.port) {
      this.lastHeardMs = nowMs;
      if (this.isExpected(ip)) this.lastExpectedMs = nowMs;
      if (this.candidates.size > 0) this.candidates.clear();
      return 'accept';
    }
    const silent = current === undefined || nowMs - this.lastHeardMs >= this.relearnAfterMs;

    if (this.isExpected(ip)) {
      this.lastExpectedMs = nowMs;
      if (this.candidates.size > 0) this.candidates.clear();
      if (!silent) {
        if (current.how === 'expected') return this.reject();
        this.counters.takeovers++;
      }
      return this.learn(ip, source.port, 'expected', nowMs);
    }

    const expectedQuiet = this.lastExpectedMs === undefined || nowMs - this.lastExpectedMs >= this.expectedQuietMs;
    if (!silent || !expectedQuiet) return this.reject();

    const key = `${ip} ${source.port}`;
    const seen = this.candidates.get(key);
    let candidate: Candidate;
    if (seen !== undefined && seen.ssrc === ssrc && ((seen.seq + 1) & 0xffff) === sequenceNumber) {
      candidate = { ssrc, seq: sequenceNumber, count: seen.count + 1 };
    } else {
      candidate = { ssrc, seq: sequenceNumber, count: 1 };
    }
    this.candidates.delete(key);
    this.candidates.set(key, candidate);
    if (this.candidates.size > MAX_PROBATION_CANDIDATES) {
      const oldest = this.candidates.keys().next();
      if (oldest.done !== true) this.candidates.delete(oldest.value);
    }
    if (candidate.count < this.probationPackets) {
      this.counters.droppedProbation++;
      return 'probation';
    }
    this.candidates.clear();
    return this.learn(ip, source.port, 'probation', nowMs);
  }

  private isExpected(ip: string): boolean {
    return ip === this.sdpIp || ip === this.signallingIp;
  }

  private learn(address: string, port: number, how: LearnedSource['how'], nowMs: number): 'learned' {
    this.current = { address, port, how, since: nowMs };
    this.lastHeardMs = nowMs;
    this.counters.learnedCount++;
    return 'learned';
  }

  private reject(): 'reject' {
    this.counters.droppedWrongSource++;
    return 'reject';
  }
}

function positiveInteger(name: keyof typeof SOURCE_LEARNING_DEFAULTS, value: number | undefined): number {
  const v = value ?? SOURCE_LEARNING_DEFAULTS[name];
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, not ${String(value)}`);
  return v;
}
