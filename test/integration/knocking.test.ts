import type { Socket } from 'socket.io-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';

describe('knocking', () => {
  let gw: TestGateway;
  let cid: string;
  let olga: { socket: Socket; seen: EventRecorder };

  beforeEach(async () => {
    gw = await startGateway();
    cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'door' } })).body.id;
    const socket = await gw.connect(await gw.token('olga', 'operator'), { namespace: '/operator' });
    olga = { socket, seen: new EventRecorder(socket) };
    expect(await request(socket, 'watch', { conversation_ids: [cid] })).toMatchObject({ ok: true });
  });
  afterEach(async () => {
    await gw.close();
  });

  async function visitor(name = 'dave'): Promise<{ socket: Socket; seen: EventRecorder }> {
    const socket = await gw.connect(await gw.token(name));
    return { socket, seen: new EventRecorder(socket) };
  }

  const logged = async (type: string): Promise<any[]> =>
    (await gw.api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events.filter((e: any) => e.type === type);

  it('a stranger knocks, an operator admits it, and it joins', async () => {
    const dave = await visitor();
    expect(await request(dave.socket, 'conversation:join', { conversation_id: cid })).toMatchObject({ ok: false, error: { code: 'ConversationNotFound' } });

    const knock = await request(dave.socket, 'conversation:knock', { conversation_id: 'door' });
    expect(knock).toMatchObject({ ok: true, conversation_id: cid });
    const seen = await olga.seen.waitFor((e) => e.type === 'app:knocking');
    expect(seen.body).toMatchObject({ knocking_id: knock.knocking_id, user: { name: 'dave' }, conversation_name: 'door' });
    expect((await request(olga.socket, 'knocking:list', {})).knockings).toEqual([
      expect.objectContaining({ id: knock.knocking_id, user: expect.objectContaining({ name: 'dave' }) }),
    ]);

    const answered = await request(olga.socket, 'knocking:answer', { knocking_id: knock.knocking_id, admit: true });
    expect(answered).toMatchObject({ ok: true, admitted: true, member_id: expect.stringMatching(/^MEM-/) });
    const told = await dave.seen.waitFor((e) => e.name === 'knocking:answer');
    expect(told).toMatchObject({ knocking_id: knock.knocking_id, conversation_id: cid, admitted: true, member_id: answered.member_id });

    const joined = await request(dave.socket, 'conversation:join', { conversation_id: cid });
    expect(joined).toMatchObject({ ok: true, member_id: answered.member_id });
    expect((await logged('member:joined')).map((e) => e.body.user.name)).toEqual(['dave']);
    expect((await request(olga.socket, 'knocking:list', {})).knockings).toEqual([]);
  });

  it('a refused knock ends with app:knocking:cancel and the stranger stays out', async () => {
    const dave = await visitor();
    const knock = await request(dave.socket, 'conversation:knock', { conversation_id: cid });
    await request(olga.socket, 'knocking:answer', { knocking_id: knock.knocking_id, admit: false });
    expect(await dave.seen.waitFor((e) => e.name === 'knocking:answer')).toMatchObject({ admitted: false });
    expect((await logged('app:knocking:cancel')).map((e) => e.body.knocking_id)).toEqual([knock.knocking_id]);
    expect(await request(dave.socket, 'conversation:join', { conversation_id: cid })).toMatchObject({ ok: false, error: { code: 'ConversationNotFound' } });
    expect(await request(olga.socket, 'knocking:answer', { knocking_id: knock.knocking_id, admit: true })).toMatchObject({
      ok: false,
      error: { code: 'NotFound' },
    });
  });

  it('withdrawing, or going away, cancels the knock', async () => {
    const dave = await visitor();
    const first = await request(dave.socket, 'conversation:knock', { conversation_id: cid });
    // Knocking again while waiting is the same knock.
    expect((await request(dave.socket, 'conversation:knock', { conversation_id: cid })).knocking_id).toBe(first.knocking_id);
    expect(await request(dave.socket, 'conversation:knock:cancel', { knocking_id: first.knocking_id })).toMatchObject({ ok: true });
    await olga.seen.waitFor((e) => e.type === 'app:knocking:cancel' && e.body.knocking_id === first.knocking_id);

    const erin = await visitor('erin');
    const second = await request(erin.socket, 'conversation:knock', { conversation_id: cid });
    // Someone else cannot withdraw erin's knock.
    expect(await request(dave.socket, 'conversation:knock:cancel', { knocking_id: second.knocking_id })).toMatchObject({
      ok: false,
      error: { code: 'NotFound' },
    });
    erin.socket.disconnect();
    await olga.seen.waitFor((e) => e.type === 'app:knocking:cancel' && e.body.knocking_id === second.knocking_id);
    expect((await request(olga.socket, 'knocking:list', { conversation_id: cid })).knockings).toEqual([]);
  });

  it('the application lists and admits knocks over REST', async () => {
    const dave = await visitor();
    const knock = await request(dave.socket, 'conversation:knock', { conversation_id: cid });
    const list = await gw.api('GET', `/v1/conversations/${cid}/knockings`);
    expect(list.body._embedded.knockings.map((k: any) => k.id)).toEqual([knock.knocking_id]);
    const admitted = await gw.api('PUT', `/v1/knockings/${knock.knocking_id}`, { body: { action: 'admit' } });
    expect(admitted).toMatchObject({ status: 200, body: { admitted: true } });
    expect(await dave.seen.waitFor((e) => e.name === 'knocking:answer')).toMatchObject({ admitted: true });
    expect((await gw.api('PUT', `/v1/knockings/${knock.knocking_id}`, { body: { action: 'admit' } })).status).toBe(404);
    expect((await gw.api('PUT', `/v1/knockings/${knock.knocking_id}`, { body: { action: 'maybe' } })).status).toBe(422);
  });

  it('refuses knocks that make no sense, and users cannot answer knocks', async () => {
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'mia' }, state: 'joined' } });
    const mia = await visitor('mia');
    expect(await request(mia.socket, 'conversation:knock', { conversation_id: cid })).toMatchObject({ ok: false, error: { code: 'InvalidState' } });
    const dave = await visitor();
    expect(await request(dave.socket, 'conversation:knock', { conversation_id: 'no-such-room' })).toMatchObject({
      ok: false,
      error: { code: 'ConversationNotFound' },
    });
    expect(await request(dave.socket, 'conversation:knock', { conversation_id: cid, extra: 1 })).toMatchObject({
      ok: false,
      error: { code: 'ValidationFailed' },
    });
    const knock = await request(dave.socket, 'conversation:knock', { conversation_id: cid });
    const byUser = await gw.api('PUT', `/v1/knockings/${knock.knocking_id}`, { token: await gw.token('mia'), body: { action: 'admit' } });
    expect(byUser.status).toBe(403);
    expect((await request(olga.socket, 'knocking:list', {})).knockings).toHaveLength(1);
  });
});
