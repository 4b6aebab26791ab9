/**
 * A SIP call lets go of everything it held when it ends, not when sip.js's last transaction timer
 * fires. sip.js keeps an answered INVITE's server transaction, its dialog and its delegates for
 * RFC 6026's Timer L (32 s) after the call; whatever those reach (the call, its leg runner and
 * machine, its media proxies) would be held that long too: at 300 calls/s, about 250 MB. Checked on
 * real parts (a sip.js phone over UDP against a gateway on 127.0.0.1): once the caller's BYE has
 * ended the call, a full garbage collection frees its leg runner, seconds before any timer of 32 s.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningLeg } from '../../src/legs/runningLeg.js';
import { FakeMediaEngine } from '../support/fakeEngine.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { waitUntil } from '../support/resources.js';
import { ScriptedPhone } from '../support/scriptedPhone.js';

const ROOM = 'memory-room';

/** A full garbage collection, for a test that asks whether something can be collected. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('a SIP call that has ended', () => {
  let gw: TestGateway | undefined;
  const phones: ScriptedPhone[] = [];

  afterEach(async () => {
    await Promise.all(phones.splice(0).map((p) => p.close()));
    await gw?.close();
    gw = undefined;
  });

  it('holds nothing once the caller has hung up: its leg runner is collected long before sip.js lets go of the transaction', async () => {
    gw = await startGateway({
      engine: new FakeMediaEngine(),
      env: {
        LEGWAY_SIP_ENABLED: 'true',
        LEGWAY_SIP_ROUTES: `*=${ROOM}`,
        LEGWAY_SIP_TRUNKS: '127.0.0.0/8',
        LEGWAY_LOG_LEVEL: process.env.LEGWAY_TEST_LOG_LEVEL ?? 'silent',
      },
    });
    const g = gw;
    // The runners of the calls, watched without being kept.
    const runners: WeakRef<RunningLeg>[] = [];
    const adopt = g.app.legs.adopt.bind(g.app.legs);
    g.app.legs.adopt = (runner: RunningLeg) => {
      runners.push(new WeakRef(runner));
      adopt(runner);
    };

    for (const name of ['alice', 'bob']) {
      const phone = await ScriptedPhone.open({ name });
      phones.push(phone);
      await phone.call({ address: '127.0.0.1', port: g.app.sip!.port }, ROOM);
      await phone.hangup();
    }
    expect(runners).toHaveLength(2);
    await waitUntil(() => g.app.legs.active === 0, { timeoutMs: 10_000, what: 'both legs to end' });

    await waitUntil(
      () => {
        collectGarbage();
        return runners.every((runner) => runner.deref() === undefined);
      },
      // Well inside the 32 s for which sip.js keeps the transaction, and anything reachable from it.
      { timeoutMs: 10_000, what: "the ended calls' leg runners to be collected" },
    );
  });
});
