/** Time source; injected so that time-driven logic (ttl, token expiry) is tested without sleeping. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
