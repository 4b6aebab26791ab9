import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';
import { toneLevel } from '../support/tone.js';
import { TestPeer } from '../support/webrtcPeer.js';

const heard = (peer: TestPeer, freq: number): number => toneLevel(peer.lastReceived(500), freq);
const AUDIBLE = 1500;
const SILENT = 300;

describe('transfer', () => {
  let gw: TestGateway;
  const peers: TestPeer[] = [];

  beforeEach(async () => {
    gw = await startGateway({ media: true });
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await gw.close();
  });

  async function join(cid: string, name: string, tone: number): Promise<TestPeer> {
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } });
    const socket = await gw.connect(await gw.token(name));
    const seen = new EventRecorder(socket);
    await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
    const peer = new TestPeer(socket);
    peers.push(peer);
    peer.tone(tone);
    expect(await peer.connect(cid)).toMatchObject({ ok: true });
    await seen.waitFor((e) => e.type === 'rtc:status' && e.body.leg_id === peer.legId && e.body.status === 'connected');
    return peer;
  }

  const events = async (cid: string): Promise<any[]> => (await gw.api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events;

  it('moves a leg to another conversation: it hears the new one and not the old, with member events on both sides', async () => {
    const first = (await gw.api('POST', '/v1/conversations', { body: { name: 'first' } })).body.id;
    const second = (await gw.api('POST', '/v1/conversations', { body: { name: 'second' } })).body.id;
    const a = await join(first, 'alice', 440);
    const b = await join(first, 'bob', 880);
    const c = await join(second, 'carol', 660);
    await b.until((s) => toneLevel(s, 440) > AUDIBLE, 'B to hear A');
    // B is speaking (its tone) when it is moved.
    await expect
      .poll(async () => (await events(first)).some((e) => e.type === 'audio:speaking:on' && e.body.leg_id === b.legId), { timeout: 10_000 })
      .toBe(true);

    const moved = await gw.api('PUT', `/v1/legs/${b.legId}`, { body: { action: 'transfer', conversation_id: 'second' } });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ id: b.legId, conversation_id: second, status: 'connected' });

    await b.until((s) => toneLevel(s, 660) > AUDIBLE, 'B to hear C');
    await c.until((s) => toneLevel(s, 880) > AUDIBLE, 'C to hear B');
    await a.until((s) => toneLevel(s, 880) < SILENT, 'A to stop hearing B');
    // Both sides now established: B hears the new conversation only.
    expect(heard(b, 440)).toBeLessThan(SILENT);

    const oldSide = await events(first);
    // Speaking ends where it began; the new conversation hears it start again there.
    await expect
      .poll(async () => (await events(second)).some((e) => e.type === 'audio:speaking:on' && e.body.leg_id === b.legId), { timeout: 10_000 })
      .toBe(true);
    const newSide = await events(second);
    const speaking = (list: any[]) =>
      list.filter((e) => e.body.leg_id === b.legId && e.type.startsWith('audio:speaking:')).map((e) => e.type.slice('audio:speaking:'.length));
    const before = speaking(oldSide);
    expect(before.length % 2, JSON.stringify(before)).toBe(0);
    expect(
      before.every((t, i) => t === (i % 2 === 0 ? 'on' : 'off')),
      JSON.stringify(before),
    ).toBe(true);
    expect(speaking(newSide)[0]).toBe('on');
    const bobLeft = oldSide.find((e) => e.type === 'member:left' && e.body.user.name === 'bob');
    const bobJoined = newSide.find((e) => e.type === 'member:joined' && e.body.user.name === 'bob');
    expect(bobLeft?.body.reason).toBe('transferred');
    expect(bobJoined).toBeDefined();
    for (const list of [oldSide, newSide]) {
      expect(list.filter((e) => e.type === 'rtc:transfer')).toEqual([
        expect.objectContaining({ body: { leg_id: b.legId, from_conversation_id: first, to_conversation_id: second } }),
      ]);
    }
    // The leg is not ended by its old member leaving.
    expect(oldSide.some((e) => e.type === 'rtc:terminate' && e.body.leg_id === b.legId)).toBe(false);
    expect(newSide.find((e) => e.type === 'member:media' && e.body.leg_id === b.legId)?.from).toBe(bobJoined.body.member_id);
    expect((await gw.api('GET', `/v1/conversations/${second}/legs`)).body._embedded.legs.map((l: any) => l.id)).toContain(b.legId);
  });

  it('refuses a transfer to the same, an unknown conversation, or by a user, and nothing moves', async () => {
    const first = (await gw.api('POST', '/v1/conversations', { body: { name: 'one' } })).body.id;
    const a = await join(first, 'alice', 440);
    const same = await gw.api('PUT', `/v1/legs/${a.legId}`, { body: { action: 'transfer', conversation_id: first } });
    expect(same.status).toBe(409);
    const unknown = await gw.api('PUT', `/v1/legs/${a.legId}`, { body: { action: 'transfer', conversation_id: 'nowhere' } });
    expect(unknown.status).toBe(404);
    const byUser = await gw.api('PUT', `/v1/legs/${a.legId}`, { token: await gw.token('alice'), body: { action: 'transfer', conversation_id: 'one' } });
    expect(byUser.status).toBe(403);
    expect((await gw.api('GET', `/v1/legs/${a.legId}`)).body).toMatchObject({ conversation_id: first, status: 'connected' });
  });
});
