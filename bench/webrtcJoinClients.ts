/**
 * Benchmark 9's clients, in a process of their own (started by ClientProcess in
 * bench/webrtcJoinIpc.ts, driven over IPC): real browsers run elsewhere, so their offers, socket.io
 * parsing and garbage must not share the gateway's main thread and heap. Joins are timed here, from
 * emit to ack, so a pause in this process shows in the figures too; its own pauses are reported
 * for that reason.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import wrtc from '@roamhq/wrtc';
import { io as connectClient, type Socket } from 'socket.io-client';
import { z } from 'zod';
import { StallMonitor } from './stalls.js';
import { describeError, paced, toClients, type ClientSpec, type FromClients, type JoinResult, type ToClients } from './webrtcJoinIpc.js';

const JOIN_ACK_MS = 30_000;
const HANGUP_ACK_MS = 10_000;
const CONVERSATION_JOIN_ACK_MS = 5000;
const ICE_GATHERING_MS = 5000;

const rtcAck = z.object({
  ok: z.boolean(),
  leg_id: z.string().optional(),
  answer: z.object({ type: z.string(), sdp: z.string() }).optional(),
  error: z.unknown().optional(),
});
const joinAck = z.object({ ok: z.boolean(), error: z.unknown().optional() });

interface Client {
  socket: Socket;
  conversationId: string;
}

/** Every socket ever opened, so that stopping (even after a failure halfway) closes them all. */
const sockets: Socket[] = [];
let offers: string[] = [];
let timedOffers = 0;
let timed: Client[] = [];
let warmUps: Client[] = [];
/** The timed joins' legs, by client, for the hang-up. */
let legs: { client: Client; legId: string }[] = [];
let stopping = false;

/** Resolves once the message has been handed to the channel, so that closing it afterwards cannot lose it. */
function send(message: FromClients): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) throw new Error('webrtcJoinClients.ts runs as a child of bench/webrtcJoin.bench.ts, with an IPC channel');
    process.send(message, undefined, {}, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

/** One real libwebrtc offer (audio, sendrecv), its candidates gathered. */
async function makeOffer(): Promise<string> {
  const pc = new wrtc.RTCPeerConnection();
  try {
    pc.addTransceiver('audio', { direction: 'sendrecv' });
    await pc.setLocalDescription(await pc.createOffer());
    const deadline = Date.now() + ICE_GATHERING_MS;
    while (pc.iceGatheringState !== 'complete' && Date.now() < deadline) await sleep(10);
    const sdp = pc.localDescription?.sdp;
    if (sdp === undefined) throw new Error('peer connection made no offer');
    return sdp;
  } finally {
    pc.close();
  }
}

async function connect(url: string, spec: ClientSpec): Promise<Client> {
  // socket.io-client's own connect timeout (20 s) bounds the wait for connect or connect_error.
  const socket = connectClient(url, { auth: { token: spec.token }, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const ack = joinAck.parse(await socket.timeout(CONVERSATION_JOIN_ACK_MS).emitWithAck('conversation:join', { conversation_id: spec.conversationId }));
  if (!ack.ok) throw new Error(`${spec.name} could not join: ${JSON.stringify(ack.error)}`);
  return { socket, conversationId: spec.conversationId };
}

/** A room's clients connect together, rooms one after another, as they did in the gateway's process. */
async function connectRooms(url: string, rooms: readonly (readonly ClientSpec[])[]): Promise<Client[][]> {
  const connected: Client[][] = [];
  for (const room of rooms) connected.push(await Promise.all(room.map((spec) => connect(url, spec))));
  return connected;
}

const rtcNew = (client: Client, sdp: string): Promise<unknown> =>
  client.socket.timeout(JOIN_ACK_MS).emitWithAck('rtc:new', { conversation_id: client.conversationId, offer: { type: 'offer', sdp } });

/** One timed join: a missing ack or a refusal is a result to report, not an exception, so every join is counted. */
async function timedJoin(client: Client, sdp: string, runStart: number): Promise<JoinResult> {
  const t0 = performance.now();
  const startedAt = (t0 - runStart) / 1000;
  let raw: unknown;
  try {
    raw = await rtcNew(client, sdp);
  } catch (err) {
    return { ms: performance.now() - t0, ok: false, answerOk: false, startedAt, error: err instanceof Error ? err.message : String(err) };
  }
  const ms = performance.now() - t0;
  const parsed = rtcAck.safeParse(raw);
  if (!parsed.success) return { ms, ok: false, answerOk: false, startedAt, error: `unreadable ack: ${JSON.stringify(raw)}` };
  const ack = parsed.data;
  return {
    ms,
    ok: ack.ok,
    answerOk: ack.answer?.type === 'answer' && ack.answer.sdp.includes('a=fingerprint:'),
    startedAt,
    ...(ack.leg_id !== undefined && { legId: ack.leg_id }),
    ...(ack.error !== undefined && { error: JSON.stringify(ack.error) }),
  };
}

const hangUp = (client: Client, legId: string): Promise<unknown> => client.socket.timeout(HANGUP_ACK_MS).emitWithAck('rtc:hangup', { leg_id: legId });

function offerFor(i: number): string {
  const sdp = offers[i];
  if (sdp === undefined) throw new Error(`no offer ${String(i)}: ${String(offers.length)} made`);
  return sdp;
}

async function respond(command: ToClients): Promise<FromClients> {
  switch (command.kind) {
    case 'offer': {
      const count = command.timed + command.warmUp;
      offers = [];
      timedOffers = command.timed;
      for (let i = 0; i < count; i += command.batch) offers.push(...(await Promise.all(Array.from({ length: Math.min(command.batch, count - i) }, makeOffer))));
      return { kind: 'offers', sdps: offers };
    }
    case 'connect': {
      const rooms = await connectRooms(command.url, command.rooms);
      warmUps = (await connectRooms(command.url, command.warmUpRooms)).flat();
      // Conversations in turn: a conversation's members join a tenth of a second apart, as a room fills.
      const count = rooms.length;
      timed = Array.from({ length: rooms.flat().length }, (_, i) => rooms[i % count]?.[Math.floor(i / count)]).filter((c) => c !== undefined);
      if (timed.length > timedOffers) throw new Error(`${String(timed.length)} clients for ${String(timedOffers)} offers`);
      return { kind: 'connected' };
    }
    case 'warmUp': {
      const acks = await paced(warmUps.length, command.ratePerS, (i) => rtcNew(warmUps[i]!, offerFor(timedOffers + i)));
      await Promise.all(
        acks.flatMap((raw, i) => {
          const ack = rtcAck.safeParse(raw);
          return ack.success && ack.data.leg_id !== undefined ? [hangUp(warmUps[i]!, ack.data.leg_id)] : [];
        }),
      );
      for (const client of warmUps) client.socket.disconnect();
      return { kind: 'warmedUp' };
    }
    case 'run': {
      const monitor = new StallMonitor();
      monitor.start();
      const cpu0 = process.cpuUsage();
      const runStart = performance.now();
      const joins = await paced(timed.length, command.ratePerS, (i) => timedJoin(timed[i]!, offerFor(i), runStart));
      const cpu = process.cpuUsage(cpu0);
      const wallMs = performance.now() - runStart;
      const { stalls } = monitor.stop();
      legs = joins.flatMap((join, i) => (join.legId === undefined ? [] : [{ client: timed[i]!, legId: join.legId }]));
      return { kind: 'ran', joins, cpu: { userUs: cpu.user, systemUs: cpu.system, wallMs }, stalls };
    }
    case 'hangUp':
      await Promise.all(legs.map(({ client, legId }) => hangUp(client, legId)));
      return { kind: 'hungUp', legs: legs.length };
    case 'stop':
      stopping = true;
      for (const socket of sockets) socket.disconnect();
      return { kind: 'stopped' };
  }
}

process.on('message', (raw) => {
  const parsed = toClients.safeParse(raw);
  const reply = parsed.success ? respond(parsed.data) : Promise.reject(new Error(`unreadable command: ${parsed.error.message}`));
  reply
    .catch((err: unknown): FromClients => ({ kind: 'failed', error: describeError(err) }))
    .then(async (message) => {
      await send(message);
      // Closing the channel leaves nothing open: the process ends by itself, which the parent checks.
      if (message.kind === 'stopped') process.disconnect();
    })
    .catch((err: unknown) => {
      console.error(`webrtcJoinClients: ${describeError(err)}`);
      process.exit(1);
    });
});
// The gateway's process went away without stopping us: nothing is left to serve.
process.on('disconnect', () => {
  if (!stopping) process.exit(1);
});
if (!process.send) throw new Error('webrtcJoinClients.ts runs as a child of bench/webrtcJoin.bench.ts, with an IPC channel');
