/**
 * The audio bridges run on media threads (LEGWAY_MEDIA_THREADS): nothing the main thread does can
 * delay a conversation's 20 ms tick. A scripted phone calls into a conversation that a player
 * fills with a tone; the main thread is then held in a busy loop for 200 ms, as a burst of
 * signalling or storage work would. The bridge on its thread keeps ticking: no frame is late, and
 * the phone receives every packet of the tone, none missing and none silent, across the stall.
 * A media thread that dies ends its legs with their catalogue events, and another takes its place.
 * The media threads and mediasoup workers take the nice value LEGWAY_MEDIA_PRIORITY names, and the
 * main thread keeps its own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Player } from '../../src/media/bridge/sources.js';
import { ThreadBridge } from '../../src/media/threads/threadBridge.js';
import { SPARE_SIP_ENDPOINTS } from '../../src/media/threads/mediaThreads.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { waitUntil } from '../support/resources.js';
import { ScriptedPhone, type ReceivedRtp } from '../support/scriptedPhone.js';
import { sine, toneLevel } from '../support/tone.js';

const ROOM = 'room';
const TONE = 800;
/** Of the tone's 8000 amplitude: well above codec loss. */
const AUDIBLE = 1500;

describe('media threads', () => {
  let gw: TestGateway | undefined;
  const phones: ScriptedPhone[] = [];

  afterEach(async () => {
    await Promise.all(phones.splice(0).map((p) => p.close()));
    await gw?.close();
    gw = undefined;
  });

  async function callRoom(
    extra: { env?: Record<string, string>; media?: boolean } = {},
  ): Promise<{ g: TestGateway; cid: string; phone: ScriptedPhone; legId: string }> {
    const g = await startGateway({
      env: { LEGWAY_SIP_ENABLED: 'true', LEGWAY_SIP_ROUTES: `*=${ROOM}`, LEGWAY_SIP_TRUNKS: '127.0.0.0/8', LEGWAY_MEDIA_THREADS: '2', ...extra.env },
      ...(extra.media && { media: true }),
    });
    gw = g;
    const cid = (await g.api('POST', '/v1/conversations', { body: { name: ROOM } })).body.id as string;
    const phone = await ScriptedPhone.open();
    phones.push(phone);
    const port = g.app.sip?.port;
    if (port === undefined) throw new Error('the gateway runs no SIP server');
    await phone.call({ address: '127.0.0.1', port }, ROOM);
    let legId = '';
    await waitUntil(
      async () => {
        const legs = (await g.api('GET', `/v1/conversations/${cid}/legs`)).body._embedded.legs as { id: string; status: string }[];
        legId = legs[0]?.id ?? '';
        return legs[0]?.status === 'connected';
      },
      { timeoutMs: 5000, what: 'the SIP leg to connect' },
    );
    return { g, cid, phone, legId };
  }

  it('a main thread busy for 200 ms delays no tick: no late frame, and the phone hears the tone without a gap', async () => {
    const { g, cid, phone } = await callRoom();
    const bridge = g.app.legs.liveBridge(cid);
    expect(bridge).toBeInstanceOf(ThreadBridge);
    bridge?.play(new Player('tone', sine(TONE, 8000, 48_000), { loop: 0, level: 0 }, () => undefined));
    await waitUntil(() => phone.received.some((p) => p.pcm && toneLevel(p.pcm, TONE, 8000) > AUDIBLE), { timeoutMs: 5000, what: 'the phone to hear the tone' });
    const late = (await (bridge as ThreadBridge).freshStats()).late;

    const from = phone.received.length;
    const until = performance.now() + 200;
    while (performance.now() < until) {
      // The main thread is busy: signalling, storage and webhooks would all wait here.
    }
    await new Promise((resolve) => setTimeout(resolve, 600));
    const heard: ReceivedRtp[] = phone.received.slice(from).filter((p) => p.pcm !== undefined);

    expect((await (bridge as ThreadBridge).freshStats()).late).toBe(late);
    // At least the stall and what followed, in 20 ms packets, every one in sequence and every one the tone.
    expect(heard.length).toBeGreaterThanOrEqual(30);
    const gaps = heard.slice(1).filter((p, i) => p.sequenceNumber !== (((heard[i]?.sequenceNumber ?? 0) + 1) & 0xffff));
    expect(gaps).toEqual([]);
    const quiet = heard.filter((p) => toneLevel(p.pcm ?? [], TONE, 8000) < AUDIBLE).map((p) => p.sequenceNumber);
    expect(quiet).toEqual([]);
  });

  it('a media thread that dies ends its legs with sip:hangup, and a new call is bridged by its replacement', async () => {
    const { g, cid, legId } = await callRoom();
    const threads = g.app.mediaThreads;
    if (!threads) throw new Error('no media threads');
    await threads.crashThreadOf(cid);
    await waitUntil(async () => (await g.api('GET', `/v1/legs/${legId}`)).body.status === 'ended', { timeoutMs: 5000, what: 'the leg to end' });
    const events = (await g.api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events as { type: string; body: { leg_id?: string } }[];
    expect(events.filter((e) => e.type === 'sip:hangup' && e.body.leg_id === legId)).toHaveLength(1);

    const phone = await ScriptedPhone.open({ name: 'second' });
    phones.push(phone);
    await phone.call({ address: '127.0.0.1', port: g.app.sip?.port ?? 0 }, ROOM);
    g.app.legs.liveBridge(cid)?.play(new Player('tone', sine(TONE, 8000, 48_000), { loop: 0, level: 0 }, () => undefined));
    await waitUntil(() => phone.received.some((p) => p.pcm && toneLevel(p.pcm, TONE, 8000) > AUDIBLE), {
      timeoutMs: 5000,
      what: 'the new call to hear the tone',
    });
  });

  it('once its calls have hung up, a thread holds no bridge, loopback, player or tap, and only its spare SIP endpoints', async () => {
    const { g, cid, phone, legId } = await callRoom();
    const threads = g.app.mediaThreads;
    if (!threads) throw new Error('no media threads');
    g.app.legs.liveBridge(cid)?.play(new Player('tone', sine(TONE, 8000, 48_000), { loop: 0, level: 0 }, () => undefined));
    const during = await threads.snapshots(true);
    expect(during.some((snap) => (snap.memory?.objects.bridges ?? 0) === 1 && (snap.memory?.objects.players ?? 0) === 1)).toBe(true);

    await phone.hangup();
    await waitUntil(async () => (await g.api('GET', `/v1/legs/${legId}`)).body.status === 'ended', { timeoutMs: 5000, what: 'the leg to end' });
    await waitUntil(async () => (await threads.snapshots()).every((snap) => snap.memory?.objects.bridges === 0), {
      timeoutMs: 5000,
      what: 'the bridge to close',
    });
    const after = await threads.snapshots(true);
    for (const snap of after) {
      const { bridges, loops, players, taps, rtp } = snap.memory?.objects ?? { bridges: -1, loops: -1, players: -1, taps: -1, rtp: -1 };
      expect({ bridges, loops, players, taps }).toEqual({ bridges: 0, loops: 0, players: 0, taps: 0 });
      // The endpoints kept open ahead of the next calls; the call's own endpoint is closed.
      expect(rtp).toBeLessThanOrEqual(SPARE_SIP_ENDPOINTS);
      expect(snap.memory?.heapUsed).toBeGreaterThan(0);
    }
  });

  it('LEGWAY_MEDIA_PRIORITY sets the nice value of the media thread carrying a call and of the mediasoup workers, not of the main thread', async () => {
    // A higher value (a lower priority) needs no privilege, so this holds for any user; a negative
    // value works the same way where CAP_SYS_NICE is granted.
    const mainBefore = niceOf(`/proc/self/task/${process.pid}/stat`);
    const threadsBefore = new Set(tasksWithNice(7));
    const { g } = await callRoom({ env: { LEGWAY_MEDIA_PRIORITY: '7' }, media: true });
    expect(g.app.mediaThreads).toBeDefined();
    const mediaThreads = tasksWithNice(7).filter((tid) => !threadsBefore.has(tid));
    expect(mediaThreads.length).toBeGreaterThanOrEqual(1);
    expect(niceOf(`/proc/self/task/${process.pid}/stat`)).toBe(mainBefore);
    const workers = mediasoupWorkers();
    expect(workers.length).toBeGreaterThanOrEqual(1);
    for (const pid of workers) expect(niceOf(`/proc/${pid}/stat`)).toBe(7);
  });
});

/** Field 19 of a /proc stat line: the nice value (fields counted after the parenthesised name). */
function niceOf(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** This process's threads (ids) running at `nice`. */
function tasksWithNice(nice: number): number[] {
  return readdirSync('/proc/self/task')
    .map(Number)
    .filter((tid) => {
      try {
        return niceOf(`/proc/self/task/${tid}/stat`) === nice;
      } catch {
        return false; // The thread ended while being read.
      }
    });
}

/** The mediasoup workers this process started (its children named mediasoup-worker). */
function mediasoupWorkers(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === process.pid && stat.includes('(mediasoup-worke');
      } catch {
        return false;
      }
    })
    .map(Number);
}
