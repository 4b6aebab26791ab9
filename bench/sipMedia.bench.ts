/**
 * Benchmark 8: what one SIP leg's media costs, by codec. Pairs of real RtpEndpoints on loopback
 * call each other (real UDP sockets, source learning, RTCP, playout by timestamp), each side with
 * its RtpLegAudio as the bridge drives it: every 20 ms tick takes the leg's decoded frame and sends
 * one frame of tone. So each leg encodes, packetises and sends, and receives, places, decodes and
 * resamples, once per tick, in real time.
 */
import { pino } from 'pino';
import { FRAME_MS, FRAME_SAMPLES } from '../src/media/audio/frame.js';
import type { SipCodecName } from '../src/media/codecs/sipCodecs.js';
import { SIP_CODECS } from '../src/media/codecs/sipCodecs.js';
import { RtpEndpoint } from '../src/media/rtp/rtpEndpoint.js';
import { RtpLegAudio } from '../src/media/rtp/rtpLegAudio.js';
import { cpuRows, fixed, startWindow, table, type BenchResult } from './stats.js';

const CODECS: readonly SipCodecName[] = ['PCMU', 'PCMA', 'G722', 'opus'];
const PAIRS = 25;
const SECONDS = 5;
const WARMUP_MS = 500;
const logger = pino({ level: 'silent' });

export const sipMediaMethod =
  `For each codec, ${PAIRS} pairs of RtpEndpoints (${PAIRS * 2} legs) on 127.0.0.1, each pointed at the other with the codec ` +
  `negotiated (20 ms packets, telephone-event), each with an RtpLegAudio. A timer every ${FRAME_MS} ms does what the audio ` +
  `bridge does per leg: nextFrame() (playout by RTP timestamp, decode, resample to 48 kHz) and send() of a 48 kHz tone frame ` +
  `(resample, encode, packetise, UDP send). After ${WARMUP_MS} ms of warm-up, ${SECONDS} s are measured: process CPU ` +
  '(user + system) divided by legs × seconds of audio is the CPU one leg costs per second of a call, receive and send together. ' +
  'Each leg must have decoded tone (non-silent frames) in the measured window, or the run fails.';

async function runCodec(codec: SipCodecName): Promise<{ rows: [string, string][]; failure?: string }> {
  const info = SIP_CODECS[codec];
  const config = { payloadType: info.offeredPayloadType, codec, ptime: 20, telephoneEventPt: info.clockRate === 8000 ? 101 : 110 };
  const endpoints: RtpEndpoint[] = [];
  const legs: { audio: RtpLegAudio; heard: number }[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const a = await RtpEndpoint.open({ ip: '127.0.0.1', portRange: { min: 40000, max: 49999 }, logger });
    const b = await RtpEndpoint.open({ ip: '127.0.0.1', portRange: { min: 40000, max: 49999 }, logger });
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      self.configure(config);
      self.setRemote({ address: '127.0.0.1', port: other.port });
      endpoints.push(self);
      legs.push({ audio: new RtpLegAudio(self), heard: 0 });
    }
  }
  const tone = new Int16Array(FRAME_SAMPLES * 50);
  for (let n = 0; n < tone.length; n++) tone[n] = Math.round(6000 * Math.sin((2 * Math.PI * 440 * n) / 48_000));
  let tick = 0;
  let measuring = false;
  const timer = setInterval(() => {
    const offset = (tick++ % 50) * FRAME_SAMPLES;
    const frame = tone.subarray(offset, offset + FRAME_SAMPLES);
    for (const leg of legs) {
      const got = leg.audio.nextFrame();
      if (measuring && got !== undefined && got.some((s) => s !== 0)) leg.heard++;
      leg.audio.send(frame);
    }
  }, FRAME_MS);
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  measuring = true;
  const ticks0 = tick;
  const stop = startWindow();
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const w = stop();
  measuring = false;
  const ticks = tick - ticks0;
  clearInterval(timer);
  for (const leg of legs) leg.audio.close();
  await Promise.all(endpoints.map((e) => e.close()));
  const legSeconds = legs.length * ((ticks * FRAME_MS) / 1000);
  const silent = legs.filter((l) => l.heard < ticks / 2).length;
  const rows: [string, string][] = [
    [`${codec} ticks run`, `${fixed(ticks)} of ${fixed((SECONDS * 1000) / FRAME_MS)} (${fixed(legs.length)} legs)`],
    [
      `${codec} CPU per leg per second`,
      `${fixed(w.cpuUs / legSeconds / 1000, 2)} ms (${fixed((w.cpuUs / 1000 / w.wallMs) * 100, 1)} % of a core for ${legs.length} legs)`,
    ],
    [`${codec} legs per core (media only)`, fixed(1000 / (w.cpuUs / legSeconds / 1000))],
    ...cpuRows(w, legSeconds, `${codec} leg-second`)
      .slice(0, 1)
      .map(([l, v]): [string, string] => [`${codec} ${l}`, v]),
  ];
  return { rows, ...(silent > 0 && { failure: `${codec}: ${silent} of ${legs.length} legs decoded no tone in most ticks` }) };
}

export async function benchSipMedia(): Promise<BenchResult> {
  const rows: [string, string][] = [];
  const failures: string[] = [];
  for (const codec of CODECS) {
    const result = await runCodec(codec);
    rows.push(...result.rows);
    if (result.failure) failures.push(result.failure);
  }
  return { lines: table(rows), failures };
}
