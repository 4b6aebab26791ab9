/**
 * What Node's HTTP parser refuses before any route sees it gets a problem body like every other
 * error (found by `npm run fuzz`: a request with a 70 KB path was answered with fastify's own JSON,
 * without a code).
 */
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';

/** Writes raw bytes on a new connection and resolves with everything the server sent before it closed. */
function rawExchange(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    socket.write(request);
  });
}

function problemOf(response: string): { status: number; contentType: string | undefined; body: any } {
  const [head = '', body = ''] = response.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const contentType = /^content-type:\s*(.+)$/im.exec(head)?.[1]?.trim();
  return { status, contentType, body: JSON.parse(body) };
}

describe('HTTP requests the parser refuses', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startGateway();
  });
  afterEach(async () => {
    await gw.close();
  });

  it('a request head over the size limit is 431 HeadersTooLarge, a problem body', async () => {
    const path = `/v1/conversations/${'x'.repeat(70_000)}`;
    const answer = problemOf(await rawExchange(gw.url, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${gw.appToken}\r\n\r\n`));
    expect(answer).toMatchObject({ status: 431, contentType: 'application/problem+json' });
    expect(answer.body).toEqual({
      type: 'urn:legway:error:HeadersTooLarge',
      title: 'Request header fields too large',
      code: 'HeadersTooLarge',
      detail: expect.any(String),
    });
    // The gateway serves the next connection as before.
    expect((await gw.api('GET', '/v1/conversations')).status).toBe(200);
  });

  it('a malformed request line is 400 BadRequest, a problem body', async () => {
    const answer = problemOf(await rawExchange(gw.url, 'NOT A REQUEST\r\n\r\n'));
    expect(answer).toMatchObject({ status: 400, contentType: 'application/problem+json', body: { code: 'BadRequest' } });
  });
});
