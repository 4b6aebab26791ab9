import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { TokenRevocations } from '../../src/services/tokenRevocations.js';
import type { Store } from '../../src/store/store.js';
import { ENGINES, engineStore, usePostgres, type EngineStore } from '../support/storeEngines.js';

const APPLICATION: Principal = { role: 'application', sub: 'backend', join: [] };
const clock = { now: () => new Date('2026-01-02T03:04:05Z') };

usePostgres('the token revocations');

describe.each(ENGINES)('token revocations (%s)', (engine) => {
  let place: EngineStore;
  const stores: Store[] = [];
  const open = (): Store => {
    const store = place.open();
    stores.push(store);
    return store;
  };

  beforeEach(() => {
    place = engineStore(engine);
  });
  afterEach(() => {
    for (const store of stores.splice(0)) store.close();
    place.remove();
  });

  it('loads what the store holds, and picks up what another process records, announcing each id once', () => {
    const gateway = open();
    const cli = open();
    cli.revokedTokens.add('before-start', '2026-01-01T00:00:00Z');
    const revocations = new TokenRevocations(gateway, clock, (err) => {
      throw err;
    });
    const announced: string[] = [];
    revocations.onRevoked((jti) => announced.push(jti));

    cli.revokedTokens.add('from-cli', '2026-01-02T00:00:00Z');
    const beforeRefresh = revocations.has('from-cli');
    revocations.refresh();
    revocations.refresh();
    const first = revocations.revoke('from-api', APPLICATION);
    const again = revocations.revoke('from-api', APPLICATION);
    revocations.refresh();

    expect(revocations.has('before-start')).toBe(true);
    expect(beforeRefresh).toBe(false);
    expect(revocations.has('from-cli')).toBe(true);
    expect(first).toEqual({ jti: 'from-api', revoked_at: '2026-01-02T03:04:05.000Z', created: true });
    expect(again).toMatchObject({ created: false, revoked_at: first.revoked_at });
    expect(announced).toEqual(['from-cli', 'from-api']);
    expect(revocations.has('never-revoked')).toBe(false);
  });

  it('lets only the application revoke, and records nothing otherwise', () => {
    const store = open();
    const revocations = new TokenRevocations(store, clock, () => undefined);

    for (const role of ['user', 'operator'] as const) {
      expect(() => revocations.revoke('x', { role, sub: 'alice', join: [] })).toThrow(expect.objectContaining({ code: 'Forbidden' }));
    }
    expect(revocations.has('x')).toBe(false);
    expect(store.revokedTokens.since(0)).toEqual([]);
  });
});
