import { createHash } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { WebhookSigner } from '../../src/webhooks/signer.js';

const SECRET = 'webhook-signer-test-secret-long-enough!!';
const key = new TextEncoder().encode(SECRET);

describe('webhook signer', () => {
  it('signs a HS256 JWT a standard library verifies, with the body hash, application id, times and a fresh jti', async () => {
    const signer = new WebhookSigner(SECRET, 'app "quoted" ✓');
    const body = JSON.stringify({ id: 7, text: 'héllo ✓ "quoted"' });
    const issued = new Date();

    const first = signer.sign(body, issued);
    const second = signer.sign(body, issued);

    const { payload } = await jwtVerify(first, key, { algorithms: ['HS256'], currentDate: issued });
    expect(decodeProtectedHeader(first)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toEqual({
      application_id: 'app "quoted" ✓',
      payload_hash: createHash('sha256').update(body, 'utf8').digest('hex'),
      iat: Math.floor(issued.getTime() / 1000),
      exp: Math.floor(issued.getTime() / 1000) + 300,
      jti: expect.any(String),
    });
    const again = await jwtVerify(second, key, { currentDate: issued });
    expect(again.payload.jti).not.toBe(payload.jti);
  });

  it('is refused under another secret', async () => {
    const token = new WebhookSigner(SECRET, 'app').sign('{}');
    await expect(jwtVerify(token, new TextEncoder().encode('another-secret-another-secret-another!!'))).rejects.toThrow(/signature/);
  });
});
