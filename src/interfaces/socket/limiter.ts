import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { fail } from '../../domain/errors.js';

/** Two token buckets: one per connection and one shared by every connection of a token's subject. */
export class RequestLimiter {
  private readonly perConnection: RateLimiterMemory;
  private readonly perToken: RateLimiterMemory;

  constructor(perConnectionPerSecond: number, perTokenPerSecond: number) {
    this.perConnection = new RateLimiterMemory({ points: perConnectionPerSecond, duration: 1 });
    this.perToken = new RateLimiterMemory({ points: perTokenPerSecond, duration: 1 });
  }

  /** Takes one request from both buckets or throws RateLimited. */
  async take(connectionId: string, tokenKey: string): Promise<void> {
    try {
      await this.perConnection.consume(connectionId);
      await this.perToken.consume(tokenKey);
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        throw fail('RateLimited', `too many requests; retry in ${Math.ceil(err.msBeforeNext)} ms`);
      }
      throw err;
    }
  }

  /** Forgets a closed connection's bucket. */
  async forget(connectionId: string): Promise<void> {
    await this.perConnection.delete(connectionId);
  }
}
