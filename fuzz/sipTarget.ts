import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { pino } from 'pino';
import { Core } from 'sip.js';
import { LegwayError } from '../src/domain/errors.js';
import { DEFAULT_SIP_CODECS } from '../src/media/codecs/sipCodecs.js';
import { negotiate, readRemoteAudio } from '../src/sip/sdp/audioSdp.js';
import { readSessionTimer } from '../src/sip/sessionTimer.js';
import { sipjsLoggerFactory } from '../src/sip/sipjsLogger.js';
import { frameDatagram, StreamFramer, type Frame } from '../src/sip/transport/framing.js';
import { normalizeIncoming } from '../src/sip/transport/incoming.js';
import type { SipSource } from '../src/sip/transport/types.js';
import { TcpPeer, UdpPeer } from '../test/support/sipPeers.js';
import type { FuzzWorld } from './gateway.js';
import { checkAsync, checkSync, InvariantFailure, Tally, type Budget, type TargetResult } from './property.js';
import { build, describeSipInput, sipInput, sipSeeds } from './sipInputs.js';
import { describeChanges, type StateWatch } from './stateWatch.js';

/** The transport's size limit (SipTransport's default). */
const MAX_MESSAGE_BYTES = 65_535;
const MAX_DATAGRAM_BYTES = 65_507;
const SOURCE: SipSource = { protocol: 'UDP', address: '127.0.0.1', port: 5070 };
const seeds = sipSeeds();
const parserLogger = sipjsLoggerFactory(pino({ level: 'silent' })).getLogger('sip.parser');

const segmentedInput = fc.record({ input: sipInput(seeds.length), cuts: fc.array(fc.nat(), { maxLength: 4 }) });

function segments(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out.filter((s) => s.length > 0);
}

/** A frame's kind, the two that stop a stream taken as one. */
const kindOf = (f: Frame): string => (f.kind === 'too-large' || f.kind === 'bad-length' ? 'fatal' : f.kind);

/**
 * Whether two framings agree: the same messages with the same bytes, and the stream stopped at
 * the same point. (Cut, a stream may pass the size limit before its head ends, where whole it shows
 * an unreadable Content-Length: either way the connection is closed.)
 */
function sameFrames(a: readonly Frame[], b: readonly Frame[]): boolean {
  return a.length === b.length && a.every((f, i) => kindOf(f) === kindOf(b[i]!) && (f.kind !== 'message' || f.data.equals((b[i] as typeof f).data)));
}

/** The gateway's reading of one message, as its transport and its call handling do it; true when accepted. */
function readMessage(bytes: Buffer): boolean {
  const frame = frameDatagram(bytes, MAX_MESSAGE_BYTES);
  if (frame?.kind !== 'message') return false;
  const text = frame.data.toString('utf8');
  const outcome = normalizeIncoming(text, SOURCE, parserLogger, () => false, frame.head);
  if (outcome.kind !== 'request' && outcome.kind !== 'response') return false;
  const message = outcome.message;
  // What the core and the call handling read next: sip.js's grammar on the header fields (lazy),
  // the session timer, and an SDP offer or answer.
  for (const name of ['from', 'to', 'contact', 'route', 'record-route', 'content-type', 'max-forwards', 'expires']) message.parseHeader(name);
  if (message instanceof Core.IncomingRequestMessage) void message.ruri?.toString();
  readSessionTimer(message.getHeader('session-expires'), message.getHeaders('supported'));
  if (message.body.length > 0 && /^application\/sdp/i.test(message.getHeader('content-type') ?? '')) {
    try {
      negotiate(readRemoteAudio(message.body), DEFAULT_SIP_CODECS);
    } catch (err) {
      // A coded refusal (488) is the answer to a bad SDP; anything else escaped.
      if (!(err instanceof LegwayError)) throw err;
    }
  }
  return true;
}

/**
 * SIP in-process: each input is framed as a datagram and read as the transport reads it (sip.js's
 * parser via `normalizeIncoming`, its header grammar, the session timer, the SDP offer), and also
 * framed as a TCP stream cut at random points, which must give the same frames as the stream
 * whole. Invariant: nothing throws.
 */
export function fuzzSipInProcess(budget: Budget): TargetResult {
  const tally = new Tally();
  const run = checkSync(
    segmentedInput,
    ({ input, cuts }) => {
      const bytes = build(seeds, input);
      const whole = new StreamFramer(MAX_MESSAGE_BYTES).push(bytes);
      const cut = new StreamFramer(MAX_MESSAGE_BYTES);
      const pieces = segments(bytes, cuts).flatMap((s) => cut.push(s));
      if (!sameFrames(whole, pieces)) throw new InvariantFailure('TCP framing differs when the stream is cut into segments');
      if (readMessage(bytes)) tally.accept();
      else tally.reject();
    },
    budget,
    tally,
    ({ input, cuts }) => `${describeSipInput(seeds, input)}\ncuts: ${JSON.stringify(cuts)}`,
  );
  return {
    name: 'SIP parser (in-process)',
    method: [
      `${seeds.length} seeds (RFC 4475 §3.1 messages and typical INVITE/ACK/BYE/CANCEL/OPTIONS/REGISTER/INFO and responses), 0-5 mutations each`,
      'each input framed as a datagram and read as the transport does (sip.js Parser, header grammar, session timer, SDP offer);',
      'and framed as a TCP stream cut at random points, which must frame as the whole stream does',
    ],
    ...run,
    ...tally.counts(),
  };
}

/**
 * SIP over the wire: each input sent to the live gateway's SIP port on 127.0.0.1 — as one UDP
 * datagram, or (every fourth) on a new TCP connection in segments cut at random points. The
 * gateway has no route for calls (no answer_url), so no SIP input may change the store: that is
 * checked every `stateEvery` inputs over everything sent so far.
 */
export async function fuzzSipWire(budget: Budget, world: FuzzWorld, watch: StateWatch, stateEvery = 500): Promise<TargetResult> {
  const tally = new Tally();
  const peer = await UdpPeer.open();
  const start = watch.mark();
  const answers = new Map<string, number>();
  let sent = 0;
  const countAnswers = (): void => {
    for (const m of peer.received.splice(0)) {
      const status = /^SIP\/2\.0 (\d)\d\d/.exec(m)?.[1];
      const key = status === undefined ? 'requests' : `${status}xx`;
      answers.set(key, (answers.get(key) ?? 0) + 1);
    }
  };
  const checkState = async (): Promise<void> => {
    // Let what was sent reach the gateway and be handled before looking.
    await sleep(20);
    countAnswers();
    tally.checked();
    const changes = watch.changesSince(start);
    if (changes.length > 0) {
      tally.violation();
      throw new InvariantFailure(`SIP input changed the store: ${describeChanges(changes)}`);
    }
  };
  try {
    const run = await checkAsync(
      fc.record({ sent: segmentedInput, tcp: fc.nat({ max: 3 }).map((n) => n === 0) }),
      async ({ sent: { input, cuts }, tcp }) => {
        const bytes = build(seeds, input);
        // A datagram holds at most 65,507 bytes of UDP payload: a larger message goes over TCP.
        if (tcp || bytes.length > MAX_DATAGRAM_BYTES) await sendTcp(world.sipPort, segments(bytes, cuts));
        else {
          await peer.send(world.sipPort, bytes);
          await nextTurn();
        }
        if (readMessage(bytes)) tally.accept();
        else tally.reject();
        if (++sent % stateEvery === 0) await checkState();
      },
      budget,
      tally,
      ({ sent: { input, cuts }, tcp }) => `${tcp ? 'TCP' : 'UDP'}: ${describeSipInput(seeds, input)}\ncuts: ${JSON.stringify(cuts)}`,
    );
    const failures = [...run.failures];
    try {
      await checkState();
    } catch (err) {
      failures.push((err as Error).message);
    }
    return {
      name: 'SIP over UDP and TCP (live gateway)',
      method: [
        'the same inputs sent to the gateway: 3 in 4 as UDP datagrams, 1 in 4 on a new TCP connection in segments cut at random points',
        `accepted/rejected as read in-process; answers seen on the UDP socket: ${[...answers].map(([k, n]) => `${n} × ${k}`).join(', ') || 'none'}`,
        `no route for calls (no answer_url): the store must not change; checked every ${stateEvery} inputs`,
      ],
      ...run,
      failures,
      ...tally.counts(),
    };
  } finally {
    await peer.close();
  }
}

async function sendTcp(port: number, pieces: readonly Buffer[]): Promise<void> {
  const peer = await TcpPeer.open(port);
  peer.socket.setNoDelay(true);
  try {
    for (const piece of pieces) {
      await peer.write(piece);
      await nextTurn();
    }
    peer.socket.end();
    // The gateway answers and then sees the end; a connection it keeps open is cut after a moment.
    for (let i = 0; i < 10 && !peer.closed; i++) await sleep(2);
  } catch {
    // The gateway may close a connection whose stream it cannot frame while we still write.
  } finally {
    peer.socket.destroy();
  }
}
