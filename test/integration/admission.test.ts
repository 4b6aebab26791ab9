/**
 * Admission control with real SIP and sockets: past LEGWAY_MAX_LEGS a new INVITE gets 503 with
 * Retry-After and a new `rtc:new` the error `Unavailable`, nothing is left behind by the refused
 * attempt, and the calls already admitted keep their audio. A slot freed by a call that ends is
 * taken by the next caller.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeMediaEngine, fakeOfferSdp } from '../support/fakeEngine.js';
import { request, startGateway, type TestGateway } from '../support/gateway.js';
import { waitUntil } from '../support/resources.js';
import { ScriptedPhone } from '../support/scriptedPhone.js';
import { SipProbe } from '../support/sipProbe.js';
import { toneLevel } from '../support/tone.js';

const ROOM = 'admission-room';
const A_TONE = 1000;
const B_TONE = 600;
const AUDIBLE = 1500;

describe('admission past LEGWAY_MAX_LEGS', () => {
  let gw: TestGateway | undefined;
  const phones: ScriptedPhone[] = [];
  const probes: SipProbe[] = [];

  afterEach(async () => {
    await Promise.all(probes.splice(0).map((p) => p.close()));
    await Promise.all(phones.splice(0).map((p) => p.close()));
    await gw?.close();
    gw = undefined;
  });

  async function start(maxLegs: number): Promise<{ g: TestGateway; cid: string; engine: FakeMediaEngine }> {
    const engine = new FakeMediaEngine();
    gw = await startGateway({
      engine,
      env: {
        LEGWAY_SIP_ENABLED: 'true',
        LEGWAY_SIP_ROUTES: `*=${ROOM}`,
        LEGWAY_SIP_TRUNKS: '127.0.0.0/8',
        LEGWAY_MAX_LEGS: String(maxLegs),
        LEGWAY_LOG_LEVEL: process.env.LEGWAY_TEST_LOG_LEVEL ?? 'silent',
      },
    });
    const created = await gw.api('POST', '/v1/conversations', { body: { name: ROOM } });
    expect(created.status).toBe(201);
    return { g: gw, cid: created.body.id as string, engine };
  }

  const sipTarget = (g: TestGateway) => ({ address: '127.0.0.1', port: g.app.sip!.port });

  async function phone(name: string): Promise<ScriptedPhone> {
    const p = await ScriptedPhone.open({ name });
    phones.push(p);
    return p;
  }

  async function legsOf(g: TestGateway, cid: string): Promise<{ id: string; type: string; status: string }[]> {
    return (await g.api('GET', `/v1/conversations/${cid}/legs`)).body._embedded.legs;
  }

  it('a third caller gets 503 with Retry-After while two calls hear each other; when one hangs up, the next caller is taken', async () => {
    const { g, cid } = await start(2);
    const a = await phone('alice');
    const b = await phone('bob');
    await a.call(sipTarget(g), ROOM);
    await b.call(sipTarget(g), ROOM);
    a.startTone({ frequency: A_TONE });
    b.startTone({ frequency: B_TONE });
    await b.until((pcm) => toneLevel(pcm, A_TONE, 8000) > AUDIBLE, "B to hear A's 1000 Hz");

    const probe = await SipProbe.open(sipTarget(g));
    probes.push(probe);
    const third = probe.invite({ user: ROOM, fromUser: 'carol' });
    await waitUntil(() => third.final !== undefined, { timeoutMs: 5000, what: 'a final answer to the third INVITE' });
    expect(third.final!.status, third.final!.text).toBe(503);
    expect(third.final!.header('retry-after')).toMatch(/^\d+$/);
    expect((await legsOf(g, cid)).length, 'no leg is made for the refused call').toBe(2);

    // The admitted calls carry on: each hears the other in the latest half second, after the refusal.
    await b.until((pcm) => toneLevel(pcm, A_TONE, 8000) > AUDIBLE, "B to go on hearing A's 1000 Hz");
    await a.until((pcm) => toneLevel(pcm, B_TONE, 8000) > AUDIBLE, "A to go on hearing B's 600 Hz");

    await b.hangup();
    await waitUntil(async () => (await legsOf(g, cid)).filter((l) => l.status !== 'ended').length === 1, { timeoutMs: 5000, what: "bob's leg to end" });
    const carol = await phone('carol');
    const answer = await carol.call(sipTarget(g), ROOM);
    expect(answer.port).toBeGreaterThan(0);
  });

  it('rtc:new past the limit is refused with Unavailable, and no leg or endpoint is made for it', async () => {
    const { g, cid, engine } = await start(1);
    const a = await phone('alice');
    await a.call(sipTarget(g), ROOM);

    const added = await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'webber' }, state: 'joined' } });
    expect(added.status).toBe(201);
    const socket = await g.connect(await g.token('webber'));
    expect(await request(socket, 'conversation:join', { conversation_id: cid, since: 0 })).toMatchObject({ ok: true });
    const ack = await request(socket, 'rtc:new', { conversation_id: cid, offer: { type: 'offer', sdp: fakeOfferSdp() } });

    expect(ack).toMatchObject({ ok: false, error: { code: 'Unavailable' } });
    expect(ack.error.message).toMatch(/limit of 1 legs/);
    expect((await legsOf(g, cid)).map((l) => l.type)).toEqual(['sip']);
    expect(engine.open).toBe(0);
  });
});
