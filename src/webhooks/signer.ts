import { createHash, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

/** Seconds a webhook signature stays valid: long enough for clock skew, short enough to limit replays. */
const SIGNATURE_TTL_SECONDS = 300;

/**
 * Signs webhook bodies as Vonage does: a HS256 JWT whose `payload_hash` is the hex SHA-256 of the
 * exact body bytes, so a receiver can check both the sender and that the body was not altered.
 */
export class WebhookSigner {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly applicationId: string,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async sign(body: string, now: Date = new Date()): Promise<string> {
    const iat = Math.floor(now.getTime() / 1000);
    return new SignJWT({
      application_id: this.applicationId,
      payload_hash: createHash('sha256').update(body, 'utf8').digest('hex'),
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + SIGNATURE_TTL_SECONDS)
      .setJti(randomUUID())
      .sign(this.key);
  }
}
