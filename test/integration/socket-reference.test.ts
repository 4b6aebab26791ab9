import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/events/catalogue.js';
import { CLIENT_REQUESTS, OPERATOR_REQUESTS, OTHER_PUSHES, socketReference } from '../../src/interfaces/socketReference.js';
import { request, startGateway, type TestGateway } from '../support/gateway.js';

/**
 * docs/socket-protocol.md is generated from the socket handlers' schemas and the event catalogue
 * (`npm run docs:socket` rewrites it); this keeps the checked-in copy current and whole, and checks
 * on a real gateway that the requests it lists are the ones the server handles.
 */

const reference = socketReference();
const heading = (name: string): string => `### \`${name}\``;

describe('docs/socket-protocol.md', () => {
  it('is the reference generated from the current schemas (npm run docs:socket regenerates it)', async () => {
    await expect(reference).toMatchFileSnapshot('../../docs/socket-protocol.md');
  });

  it('lists every client and operator request, every event type and every other push', () => {
    const names = [...Object.keys(CLIENT_REQUESTS), ...Object.keys(OPERATOR_REQUESTS), ...EVENT_TYPES, ...Object.keys(OTHER_PUSHES), 'rtc:offer'];
    expect(names.filter((name) => !reference.includes(heading(name)))).toEqual([]);
  });
});

describe('the requests it lists are the ones the gateway handles', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => {
    await gw.close();
  });

  /** The error code of each request's ack for an empty payload (`UnknownRequest` only for names the server lacks). */
  async function codes(namespace: '' | '/operator', names: string[]): Promise<Record<string, string>> {
    const socket = await gw.connect(await gw.token('olga', 'operator'), { namespace });
    const out: Record<string, string> = {};
    for (const name of names) {
      const ack = await request(socket, name, {});
      out[name] = ack.ok === true ? 'ok' : (ack.error.code as string);
    }
    socket.disconnect();
    return out;
  }

  it('client namespace', async () => {
    const answered = await codes('', [...Object.keys(CLIENT_REQUESTS), 'not:listed']);

    expect(answered['not:listed']).toBe('UnknownRequest');
    expect(Object.entries(answered).filter(([name, code]) => name !== 'not:listed' && code === 'UnknownRequest')).toEqual([]);
  });

  it('operator namespace', async () => {
    const answered = await codes('/operator', [...Object.keys(OPERATOR_REQUESTS), 'not:listed']);

    expect(answered['not:listed']).toBe('UnknownRequest');
    expect(Object.entries(answered).filter(([name, code]) => name !== 'not:listed' && code === 'UnknownRequest')).toEqual([]);
  });
});
