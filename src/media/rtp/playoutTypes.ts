/** What the playout buffer (./playoutBuffer.ts) takes and reports. */

/** What the buffer needs from a codec's decoder (G.711, G.722, Opus: one instance per stream). */
export interface PacketDecoder {
  /** Decoded samples per RTP clock tick: 1 for G.711 and Opus (48 kHz clock, 48 kHz PCM), 2 for G.722 (8 kHz clock, 16 kHz PCM). */
  readonly samplesPerTick: number;
  /** Duration of a payload in RTP clock ticks, from the payload alone (G.711: bytes; G.722: bytes; Opus: its TOC); undefined if it cannot be decoded. */
  duration(payload: Uint8Array): number | undefined;
  /** Decodes one payload, in order, to PCM at the decoder's sample rate (duration × samplesPerTick samples); may throw on a corrupt payload. The returned array may be reused by the next call. */
  decode(payload: Uint8Array): Int16Array;
  /** Forgets decoder state (new stream / discontinuity). */
  reset(): void;
}

/** The fields of an RTP packet the buffer uses. The payload is held, not copied, until played. */
export interface PlayoutPacket {
  ssrc: number;
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Uint8Array;
}

export interface PlayoutOptions {
  decoder: PacketDecoder;
  /** Samples (at the decoder's rate) handed out per tick: 160 for 8 kHz, 320 for 16 kHz, 960 for 48 kHz at 20 ms ticks. */
  frameSamples: number;
  /** Samples per second of the decoded PCM (8000, 16000, 48000). */
  sampleRate: number;
  /** Delay held before playing starts (and after a drain), in ms; default 40. */
  targetDelayMs?: number;
  /** Above this much buffered, skip ahead to the target once (one glitch instead of a permanent delay); default 200. */
  maxDelayMs?: number;
}

/** Counters for metrics and diagnostics; samples are at the decoder's rate. */
export interface PlayoutStats {
  /** Packets pushed, whatever became of them. */
  packets: number;
  /** Dropped: their whole span had already been played (or concealed). */
  late: number;
  /** Dropped: a sequence number or timestamp already held or played. */
  duplicate: number;
  /** Filled in for lost or undecodable audio: the faded repeat, then silence. */
  concealedSamples: number;
  /** Inserted for a deliberate pause: a timestamp jump with contiguous sequence numbers. */
  silenceSamples: number;
  /** Dropped to get back to the target delay. */
  skippedSamples: number;
  /** Packets dropped, oldest first, because the hold cap was reached (ticks stopped, or a flood). */
  overflow: number;
  /** Re-synchronisations: new SSRC, timestamp discontinuity, drain. */
  resets: number;
  /** Packets whose duration was unreadable or over 240 ms, or whose decode threw. */
  undecodable: number;
  /** Length of the last packet accepted, in samples. */
  lastPacketSamples: number;
  /** The same in ms: the packetisation actually received. */
  lastPacketMs: number;
}
