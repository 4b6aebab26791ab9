import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';
import { waitUntil } from '../support/resources.js';
import { toneLevel } from '../support/tone.js';
import { TestPeer } from '../support/webrtcPeer.js';
import { sippMissing, startSipp } from '../sipp/sipp.js';

const missing = sippMissing();
if (missing) console.warn(`skipping outbound SIP call tests: ${missing}`);

describe.skipIf(missing !== undefined)('outbound SIP calls (POST /v1/calls) to a SIPp callee', () => {
  let gw: TestGateway;
  let cid: string;

  beforeEach(async () => {
    gw = await startGateway({ media: true, env: { LEGWAY_SIP_ENABLED: 'true' } });
    cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'dial-out' } })).body.id;
  });
  afterEach(async () => {
    await gw.close();
  });

  const events = async (): Promise<any[]> => (await gw.api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events;
  const ofLeg = (list: any[], legId: string, type: string) => list.filter((e) => e.type === type && e.body?.leg_id === legId);

  async function dial(scenario: string, extra: Record<string, unknown> = {}): Promise<{ leg: any; sipp: Awaited<ReturnType<typeof startSipp>> }> {
    const sipp = await startSipp({ scenario, transport: 'u1' });
    const res = await gw.api('POST', '/v1/calls', {
      body: { to: { type: 'sip', uri: `sip:bob@127.0.0.1:${String(sipp.port)}` }, conversation_id: 'dial-out', ...extra },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ type: 'sip', direction: 'outbound', conversation_id: cid });
    return { leg: res.body, sipp };
  }

  it('an answered call rings, is answered (the callee joins), and the callee hanging up ends it', async () => {
    const { leg, sipp } = await dial('uas-invite-answer-200-then-bye.xml');
    const run = await sipp.finished;
    expect(run.code, run.trace).toBe(0);
    await waitUntil(async () => ofLeg(await events(), leg.id, 'sip:hangup').length === 1, { what: 'sip:hangup' });
    const list = await events();
    expect(ofLeg(list, leg.id, 'sip:ringing').map((e) => e.body.code)).toEqual([180]);
    expect(ofLeg(list, leg.id, 'audio:ringing:start')).toHaveLength(1);
    expect(ofLeg(list, leg.id, 'sip:answered')).toHaveLength(1);
    expect(ofLeg(list, leg.id, 'sip:hangup')[0].body).toMatchObject({ by: 'remote' });
    const bob = list.filter((e) => e.type.startsWith('member:') && e.body.user?.name === 'sip-bob').map((e) => e.type);
    expect(bob).toEqual(['member:invited', 'member:joined', 'member:left']);
    expect((await gw.api('GET', `/v1/legs/${String(leg.id)}`)).body.status).toBe('ended');
  });

  it('a busy callee ends the call as busy with its code', async () => {
    const { leg, sipp } = await dial('uas-invite-answer-486.xml');
    expect((await sipp.finished).code).toBe(0);
    await waitUntil(async () => ofLeg(await events(), leg.id, 'sip:hangup').length === 1, { what: 'sip:hangup' });
    const list = await events();
    expect(ofLeg(list, leg.id, 'sip:hangup')[0].body).toMatchObject({ cause: 'busy', by: 'remote', code: 486 });
    expect(ofLeg(list, leg.id, 'sip:status').map((e) => e.body.code)).toEqual([180, 486]);
    expect(ofLeg(list, leg.id, 'sip:answered')).toEqual([]);
  });

  it('a callee that never answers is cancelled after ringing_timer: no answer', async () => {
    const { leg, sipp } = await dial('uas-invite-ring-expect-cancel.xml', { ringing_timer: 3 });
    const run = await sipp.finished;
    expect(run.code, run.trace).toBe(0);
    await waitUntil(async () => ofLeg(await events(), leg.id, 'sip:hangup').length === 1, { what: 'sip:hangup' });
    expect(ofLeg(await events(), leg.id, 'sip:hangup')[0].body).toMatchObject({ cause: 'no answer', by: 'system' });
  });

  it('while the callee rings, the conversation hears ringback; it stops when the call is given up', async () => {
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
    const socket = await gw.connect(await gw.token('alice'));
    const seen = new EventRecorder(socket);
    await request(socket, 'conversation:join', { conversation_id: cid });
    const alice = new TestPeer(socket);
    try {
      expect(await alice.connect(cid)).toMatchObject({ ok: true });
      await seen.waitFor((e) => e.type === 'rtc:status' && e.body.status === 'connected', 15_000);
      const { leg, sipp } = await dial('uas-invite-ring-expect-cancel.xml', { ringing_timer: 4 });
      await seen.waitFor((e) => e.type === 'audio:ringing:start' && e.body.leg_id === leg.id, 10_000);
      // US ringback: 440 + 480 Hz, 2 s on.
      await alice.until((s) => toneLevel(s, 440) > 500 && toneLevel(s, 480) > 500, 'Alice to hear ringback');
      expect((await sipp.finished).code).toBe(0);
      await seen.waitFor((e) => e.type === 'sip:hangup' && e.body.leg_id === leg.id, 10_000);
      // A full cadence (6 s) after the end, no ringback at all: a leftover player would be on again by then.
      const mark = alice.received.length;
      await alice.receiveMore(6200, 15_000);
      const after = alice.received.slice(mark);
      for (let i = 0; i + 4800 <= after.length; i += 4800) expect(toneLevel(after.slice(i, i + 4800), 440)).toBeLessThan(300);
    } finally {
      alice.close();
    }
  });

  it('answers a trunk digest challenge with LEGWAY_SIP_USERNAME/PASSWORD, and the call goes through', async () => {
    await gw.close();
    gw = await startGateway({ media: true, env: { LEGWAY_SIP_ENABLED: 'true', LEGWAY_SIP_USERNAME: 'legway', LEGWAY_SIP_PASSWORD: 's3cret-trunk' } });
    cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'dial-out' } })).body.id;
    const sipp = await startSipp({ scenario: 'uas-invite-challenge-401-then-answer-200.xml', transport: 'u1' });
    const res = await gw.api('POST', '/v1/calls', { body: { to: { type: 'sip', uri: `sip:bob@127.0.0.1:${String(sipp.port)}` }, conversation_id: cid } });
    expect(res.status).toBe(201);
    const run = await sipp.finished;
    expect(run.code, run.trace).toBe(0);
    await waitUntil(async () => ofLeg(await events(), res.body.id, 'sip:hangup').length === 1, { what: 'sip:hangup' });
    expect(ofLeg(await events(), res.body.id, 'sip:answered')).toHaveLength(1);
  });

  it('a wrong password fails the challenged call (the trunk refuses it), and nothing is left running', async () => {
    await gw.close();
    gw = await startGateway({ media: true, env: { LEGWAY_SIP_ENABLED: 'true', LEGWAY_SIP_USERNAME: 'legway', LEGWAY_SIP_PASSWORD: 'wrong' } });
    cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'dial-out' } })).body.id;
    const sipp = await startSipp({ scenario: 'uas-invite-challenge-401-then-answer-200.xml', transport: 'u1' });
    await gw.api('POST', '/v1/calls', { body: { to: { type: 'sip', uri: `sip:bob@127.0.0.1:${String(sipp.port)}` }, conversation_id: cid, ringing_timer: 3 } });
    expect((await sipp.finished).code).not.toBe(0);
    await waitUntil(() => gw.app.legs.active === 0, { timeoutMs: 15_000, what: 'the call to end' });
  });

  it('refuses bad calls before dialling anything', async () => {
    const bad = async (body: unknown, status: number) => expect((await gw.api('POST', '/v1/calls', { body })).status).toBe(status);
    await bad({ to: { type: 'sip', uri: 'tel:+15551234' }, conversation_id: cid }, 422);
    await bad({ to: { type: 'sip', uri: 'sip:bob@127.0.0.1' }, conversation_id: 'nowhere' }, 404);
    await bad({ to: { type: 'phone', number: '1555' }, conversation_id: cid }, 422);
    await bad({ to: { type: 'sip', uri: 'sip:bob@127.0.0.1' }, conversation_id: cid, machine_detection: 'maybe' }, 422);
    const user = await gw.api('POST', '/v1/calls', {
      token: await gw.token('alice'),
      body: { to: { type: 'sip', uri: 'sip:bob@127.0.0.1' }, conversation_id: cid },
    });
    expect(user.status).toBe(403);
  });
});
