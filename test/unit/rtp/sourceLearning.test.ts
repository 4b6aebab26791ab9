import { describe, expect, it } from 'vitest';
import type { UdpAddress } from '../../../src/media/rtp/udpAddress.js';
import {
  MAX_PROBATION_CANDIDATES,
  SourceLearning,
  type LearnedSource,
  type SourceLearningOptions,
  type SourceLearningStats,
  type SourceVerdict,
} from '../../../src/media/rtp/sourceLearning.js';

const PHONE = '203.0.113.7'; // public, in the SDP
const PHONE_OTHER_NIC = '203.0.113.8'; // the multi-homed softphone's other address
const LAN = '192.168.1.20'; // private, in the SDP of a phone behind NAT
const NAT = '198.51.100.9'; // that phone's router
const STRANGER = '192.0.2.66';

interface Packet {
  from: string;
  ssrc: number;
  seq: number;
  t: number;
  want: SourceVerdict;
}
interface State {
  learned?: LearnedSource | undefined;
  destination?: UdpAddress | undefined;
  expectsMedia?: boolean;
  stats?: Partial<SourceLearningStats>;
  candidates?: number;
}
type Step = Packet | { remote: string; t: number } | { signalling: string } | { state: State };
interface Scenario {
  name: string;
  options?: SourceLearningOptions;
  steps: Step[];
}

/** 'ip:port' or '[ipv6]:port'. */
function udp(text: string): UdpAddress {
  const colon = text.lastIndexOf(':');
  return { address: text.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(text.slice(colon + 1)) };
}

interface Run {
  t: number;
  n?: number;
  ssrc?: number;
  seq?: number;
  dt?: number;
  seqStep?: number;
  ssrcStep?: number;
  portStep?: number;
}

/** A stream of packets, every `dt` ms from `t`, each expecting `want` (one verdict, or one each). */
function run(from: string, r: Run, want: SourceVerdict | SourceVerdict[]): Packet[] {
  const n = Array.isArray(want) ? want.length : (r.n ?? 1);
  const { address, port } = udp(from);
  const host = address.includes(':') ? `[${address}]` : address;
  return Array.from({ length: n }, (_, i) => ({
    from: `${host}:${port + i * (r.portStep ?? 0)}`,
    ssrc: (r.ssrc ?? 0x1234) + i * (r.ssrcStep ?? 0),
    seq: ((r.seq ?? 0) + i * (r.seqStep ?? 1)) & 0xffff,
    t: r.t + i * (r.dt ?? 20),
    want: Array.isArray(want) ? want[i]! : want,
  }));
}

/** Streams side by side, in time order. */
function merge(...streams: Packet[][]): Packet[] {
  return streams.flat().sort((a, b) => a.t - b.t);
}

const PASSES_PROBATION: SourceVerdict[] = ['probation', 'probation', 'probation', 'probation', 'learned'];
const learned = (address: string, port: number, how: LearnedSource['how'], since: number): LearnedSource => ({ address, port, how, since });

const scenarios: Scenario[] = [
  {
    name: 'nothing is accepted before setRemote',
    steps: [
      { state: { destination: undefined, expectsMedia: false } },
      ...run(`${PHONE}:4000`, { t: 0, n: 3 }, 'reject'),
      { state: { learned: undefined, stats: { droppedWrongSource: 3, learnedCount: 0 } } },
      { remote: `${PHONE}:4000`, t: 100 },
      ...run(`${PHONE}:4000`, { t: 120, seq: 3 }, ['learned', 'accept']),
    ],
  },
  {
    name: 'SDP address == source: learned at once, sent to',
    steps: [
      { remote: `${PHONE}:4000`, t: 0 },
      { state: { destination: udp(`${PHONE}:4000`), expectsMedia: true, learned: undefined } },
      ...run(`${PHONE}:4000`, { t: 10 }, ['learned', 'accept', 'accept']),
      { state: { learned: learned(PHONE, 4000, 'expected', 10), destination: udp(`${PHONE}:4000`) } },
      { state: { stats: { droppedWrongSource: 0, droppedProbation: 0, learnedCount: 1, takeovers: 0 } } },
    ],
  },
  {
    name: 'multi-homed softphone: SDP address differs, source is the signalling IP: learned at once',
    options: { signallingSource: PHONE_OTHER_NIC },
    steps: [
      { remote: `${PHONE}:4000`, t: 0 },
      ...run(`${PHONE_OTHER_NIC}:5000`, { t: 10 }, ['learned', 'accept']),
      { state: { learned: learned(PHONE_OTHER_NIC, 5000, 'expected', 10), destination: udp(`${PHONE_OTHER_NIC}:5000`) } },
      // The SDP address is expected too, but does not take over a live source learned as expected.
      ...run(`${PHONE}:4000`, { t: 50 }, 'reject'),
      { state: { stats: { droppedWrongSource: 1, learnedCount: 1, takeovers: 0 } } },
    ],
  },
  {
    name: 'private SDP address, public source, signalling from that public IP (set later): learned at once',
    steps: [
      { remote: `${LAN}:5004`, t: 0 },
      { state: { destination: udp(`${LAN}:5004`) } },
      { signalling: `::ffff:${NAT}` },
      ...run(`${NAT}:31000`, { t: 10 }, ['learned', 'accept', 'accept']),
      { state: { learned: learned(NAT, 31000, 'expected', 10), destination: udp(`${NAT}:31000`) } },
      { state: { stats: { droppedWrongSource: 0, droppedProbation: 0, learnedCount: 1 } } },
    ],
  },
  {
    name: 'stranger before the real stream: learned by probation, then the phone takes over at its first packet',
    steps: [
      { remote: `${PHONE}:4000`, t: 0 },
      ...run(`${STRANGER}:7000`, { t: 0, ssrc: 66 }, [...PASSES_PROBATION, 'accept']),
      { state: { learned: learned(STRANGER, 7000, 'probation', 80), destination: udp(`${STRANGER}:7000`) } },
      ...merge(
        run(`${PHONE}:4000`, { t: 110, n: 200 }, ['learned', ...Array<SourceVerdict>(199).fill('accept')]),
        run(`${STRANGER}:7000`, { t: 120, seq: 6, ssrc: 66, n: 200 }, 'reject'),
      ),
      { state: { learned: learned(PHONE, 4000, 'expected', 110), destination: udp(`${PHONE}:4000`) } },
      { state: { stats: { droppedWrongSource: 200, droppedProbation: 4, learnedCount: 2, takeovers: 1 } } },
    ],
  },
  {
    name: 'stranger while the phone sends: never learned, counted',
    steps: [
      { remote: `${PHONE}:4000`, t: 0 },
      ...merge(
        run(`${PHONE}:4000`, { t: 0, n: 300 }, ['learned', ...Array<SourceVerdict>(299).fill('accept')]),
        run(`${STRANGER}:7000`, { t: 5, n: 290 }, 'reject'),
      ),
      { state: { learned: learned(PHONE, 4000, 'expected', 0), candidates: 0 } },
      { state: { stats: { droppedWrongSource: 290, droppedProbation: 0, learnedCount: 1, takeovers: 0 } } },
    ],
  },
  {
    name: 'stranger after the phone goes silent: learned only after relearnAfterMs of silence plus probation',
    steps: [
      { remote: `${PHONE}:4000`, t: 0 },
      ...run(`${PHONE}:4000`, { t: 0, n: 50 }, ['learned', ...Array<SourceVerdict>(49).fill('accept')]), // last at 980
      ...run(`${STRANGER}:7000`, { t: 1000, n: 149 }, 'reject'), // to 3960
      ...run(`${STRANGER}:7000`, { t: 3980, seq: 149 }, [...PASSES_PROBATION, 'accept']),
      { state: { learned: learned(STRANGER, 7000, 'probation', 4060), destination: udp(`${STRANGER}:7000`) } },
      // The phone comes back: it takes over from the source learned by probation.
      ...run(`${PHONE}:4000`, { t: 4100, seq: 50 }, ['learned', 'accept']),
      ...run(`${STRANGER}:7000`, { t: 4150, seq: 155 }, 'reject'),
      { state: { stats: { droppedWrongSource: 150, droppedProbation: 4, learnedCount: 3, takeovers: 1 } } },
    ],
  },
  {
    name: 'no probation while an expected IP was heard within expectedQuietMs',
    options: { relearnAfterMs: 200 },
    steps: [
      { remote: `${PHONE}:4000`, t: 0 },
      ...run(`${PHONE}:4000`, { t: 0, n: 50 }, ['learned', ...Array<SourceVerdict>(49).fill('accept')]), // last at 980
      ...run(`${STRANGER}:7000`, { t: 1000, n: 49 }, 'reject'), // to 1960: silent from 1180, quiet from 1980
      ...run(`${STRANGER}:7000`, { t: 1980, seq: 49 }, PASSES_PROBATION),
      { state: { learned: learned(STRANGER, 7000, 'probation', 2060), stats: { droppedWrongSource: 49, droppedProbation: 4 } } },
    ],
  },
  {
    name: 'a stranger out of sequence or changing SSRC never passes probation',
    steps: [
      { remote: `${LAN}:5004`, t: 0 }, // nothing will come from an expected IP
      ...run(`${STRANGER}:7000`, { t: 0, n: 30, seqStep: 2 }, 'probation'),
      ...run(`${STRANGER}:7001`, { t: 1000, n: 30, ssrcStep: 1 }, 'probation'),
      ...run(`${STRANGER}:7002`, { t: 2000, n: 30, seqStep: 0 }, 'probation'),
      { state: { learned: undefined, destination: udp(`${LAN}:5004`), stats: { droppedProbation: 90, learnedCount: 0 } } },
      // In sequence across the wrap of the sequence number: learned.
      ...run(`${STRANGER}:7003`, { t: 3000, seq: 65533 }, PASSES_PROBATION),
      { state: { learned: learned(STRANGER, 7003, 'probation', 3080), candidates: 0 } },
    ],
  },
  {
    name: 'a port-rotating sprayer never passes probation, keeps state bounded, and does not stop a steady stream',
    steps: [
      { remote: `${LAN}:5004`, t: 0 },
      ...run(`${STRANGER}:10000`, { t: 0, n: 500, dt: 1, portStep: 1 }, 'probation'),
      { state: { learned: undefined, candidates: MAX_PROBATION_CANDIDATES, stats: { droppedProbation: 500 } } },
      ...merge(run(`${STRANGER}:20000`, { t: 1000, n: 5, portStep: 1 }, 'probation'), run(`${NAT}:31000`, { t: 1010 }, PASSES_PROBATION)),
      { state: { learned: learned(NAT, 31000, 'probation', 1090), candidates: 0 } },
      ...run(`${STRANGER}:30000`, { t: 1100, n: 20, portStep: 1 }, 'reject'),
      { state: { candidates: 0, stats: { droppedProbation: 509, droppedWrongSource: 20, learnedCount: 1 } } },
    ],
  },
  {
    name: 'the phone’s NAT changes port mid-call: rejected while the old port sends, learned at once after relearnAfterMs',
    options: { signallingSource: NAT },
    steps: [
      { remote: `${LAN}:5004`, t: 0 },
      ...merge(
        run(`${NAT}:31000`, { t: 0, n: 60 }, ['learned', ...Array<SourceVerdict>(59).fill('accept')]), // last at 1180
        run(`${NAT}:31002`, { t: 1000, seq: 50, n: 159 }, 'reject'), // to 4160
      ),
      ...run(`${NAT}:31002`, { t: 4180, seq: 209 }, ['learned', 'accept']),
      { state: { learned: learned(NAT, 31002, 'expected', 4180), destination: udp(`${NAT}:31002`) } },
      ...run(`${NAT}:31000`, { t: 4220, seq: 60 }, 'reject'),
      { state: { stats: { droppedWrongSource: 160, droppedProbation: 0, learnedCount: 2, takeovers: 0 } } },
    ],
  },
  {
    name: 're-INVITE with a new SDP address: forgets and re-learns; strangers wait while the phone reappears',
    // The phone is silent from 980 (say, on hold); the re-offer at 2000 counts as hearing from it.
    steps: [
      { remote: `${PHONE}:4000`, t: 0 },
      ...run(`${PHONE}:4000`, { t: 0, n: 50 }, ['learned', ...Array<SourceVerdict>(49).fill('accept')]),
      { remote: `${PHONE_OTHER_NIC}:6000`, t: 2000 },
      { state: { learned: undefined, destination: udp(`${PHONE_OTHER_NIC}:6000`) } },
      ...run(`${STRANGER}:7000`, { t: 2001, n: 5, dt: 1 }, 'reject'),
      ...run(`${PHONE_OTHER_NIC}:6000`, { t: 2010 }, ['learned', 'accept']),
      ...run(`${PHONE}:4000`, { t: 2100, seq: 50 }, 'reject'), // no longer expected
      { state: { learned: learned(PHONE_OTHER_NIC, 6000, 'expected', 2010), stats: { droppedWrongSource: 6, learnedCount: 2 } } },
    ],
  },
  {
    name: 're-INVITE of a phone learned by probation: learned again by probation',
    steps: [
      { remote: `${LAN}:5004`, t: 0 },
      ...run(`${NAT}:31000`, { t: 0 }, [...PASSES_PROBATION, 'accept']),
      { remote: `${LAN}:5004`, t: 110 },
      ...run(`${NAT}:31000`, { t: 120, seq: 6 }, [...PASSES_PROBATION, 'accept']),
      { state: { learned: learned(NAT, 31000, 'probation', 200), stats: { droppedProbation: 8, learnedCount: 2 } } },
    ],
  },
  {
    name: 'c=0.0.0.0 (hold) and port 0 give no destination until a source is learned',
    steps: [
      { remote: '0.0.0.0:4000', t: 0 },
      { state: { destination: undefined, expectsMedia: false } },
      ...run(`${PHONE}:4000`, { t: 0 }, PASSES_PROBATION), // its IP is no longer expected
      { state: { destination: udp(`${PHONE}:4000`), expectsMedia: true } },
      { remote: '[::]:4000', t: 200 },
      { state: { destination: undefined, expectsMedia: false } },
      { remote: `${PHONE}:0`, t: 300 },
      { state: { destination: undefined, expectsMedia: false } },
      ...run(`${PHONE}:4000`, { t: 310, seq: 5 }, 'learned'),
      { state: { destination: udp(`${PHONE}:4000`), expectsMedia: true } },
    ],
  },
  {
    name: 'an IPv4-mapped IPv6 source matches an IPv4 SDP address (and the other way round)',
    steps: [
      { remote: `${PHONE}:4000`, t: 0 },
      ...run(`[::ffff:${PHONE}]:4000`, { t: 0 }, ['learned', 'accept']),
      ...run(`${PHONE}:4000`, { t: 40, seq: 2 }, 'accept'),
      { state: { learned: learned(PHONE, 4000, 'expected', 0), destination: udp(`${PHONE}:4000`) } },
      { remote: `[::FFFF:${NAT}]:5000`, t: 100 },
      { state: { destination: udp(`${NAT}:5000`) } },
      ...run(`${NAT}:5002`, { t: 110 }, 'learned'),
    ],
  },
];

describe('SourceLearning', () => {
  for (const scenario of scenarios) {
    it(scenario.name, () => {
      const learning = new SourceLearning(scenario.options);
      scenario.steps.forEach((step, i) => {
        const where = `step ${i}: ${JSON.stringify(step)}`;
        if ('remote' in step) learning.setRemote(udp(step.remote), step.t);
        else if ('signalling' in step) learning.setSignallingSource(step.signalling);
        else if ('from' in step) expect(learning.check(udp(step.from), step.ssrc, step.seq, step.t), where).toBe(step.want);
        else {
          const { state } = step;
          if ('learned' in state) expect(learning.learned, where).toEqual(state.learned);
          if ('destination' in state) expect(learning.destination, where).toEqual(state.destination);
          if (state.expectsMedia !== undefined) expect(learning.expectsMedia, where).toBe(state.expectsMedia);
          if (state.stats) expect(learning.stats, where).toMatchObject(state.stats);
          if (state.candidates !== undefined) expect(learning.probationCandidates, where).toBe(state.candidates);
        }
      });
    });
  }

  it('learns at the first packet with probationPackets 1', () => {
    const learning = new SourceLearning({ probationPackets: 1 });
    learning.setRemote(udp(`${LAN}:5004`), 0);
    expect(learning.check(udp(`${NAT}:31000`), 1, 1, 0)).toBe('learned');
  });

  it('rejects options that are not positive integers', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
      for (const key of ['probationPackets', 'expectedQuietMs', 'relearnAfterMs'] as const) {
        expect(() => new SourceLearning({ [key]: bad }), `${key} ${bad}`).toThrow(RangeError);
      }
    }
    expect(() => new SourceLearning({ probationPackets: 2, expectedQuietMs: 1, relearnAfterMs: 1 })).not.toThrow();
  });
});
