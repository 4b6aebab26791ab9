import { createHash, randomUUID, webcrypto } from 'node:crypto';
import { SignJWT, type JWTHeaderParameters } from 'jose';

/** Seconds a webhook signature stays valid: long enough for clock skew, short enough to limit replays. */
const SIGNATURE_TTL_SECONDS = 300;

/** The same protected header on every signature. */
const HEADER: JWTHeaderParameters = Object.freeze({ alg: 'HS256', typ: 'JWT' });

/**
 * Signs webhook bodies as Vonage does: a HS256 JWT whose `payload_hash` is the hex SHA-256 of the
 * exact body bytes, so a receiver can check both the sender and that the body was not altered.
 *
 * The secret is imported once as a non-extractable CryptoKey: given raw bytes, jose would import
 * them again for every signature.
 */
export class WebhookSigner {
  private readonly key: Promise<webcrypto.CryptoKey>;

  constructor(
    secret: string,
    private readonly applicationId: string,
  ) {
    this.key = webcrypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    // A key that cannot be imported fails every sign() instead; not an unhandled rejection here.
    this.key.catch(() => undefined);
  }

  async sign(body: string, now: Date = new Date()): Promise<string> {
    const iat = Math.floor(now.getTime() / 1000);
    return new SignJWT({
      application_id: this.applicationId,
      payload_hash: createHash('sha256').update(body, 'utf8').digest('hex'),
    })
      .setProtectedHeader(HEADER)
      .setIssuedAt(iat)
      .setExpirationTime(iat + SIGNATURE_TTL_SECONDS)
      .setJti(randomUUID())
      .sign(await this.key);
  }
}
