/**
 * Admission control's decisions from its two inputs, the legs carried and the main thread's load
 * (an injected sampler, so the load is whatever the test says it is).
 */
import { describe, expect, it } from 'vitest';
import type { LegwayError } from '../../src/domain/errors.js';
import { Admission } from '../../src/services/admission.js';

function admission(options: { maxLegs?: number; maxLoad?: number }, legs = 0, loads: number[] = []) {
  let count = legs;
  const samples = [...loads];
  const a = new Admission(
    { maxLegs: options.maxLegs, maxLoad: options.maxLoad ?? 0.9, sampleMs: 1000 },
    () => count,
    () => samples.shift() ?? 0,
  );
  return { a, setLegs: (n: number) => (count = n) };
}

const refusal = (fn: () => void): LegwayError | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err as LegwayError;
  }
};

describe('Admission', () => {
  it('refuses with Unavailable at the leg limit and admits again below it', () => {
    const { a, setLegs } = admission({ maxLegs: 3 }, 2);
    expect(refusal(() => a.check('SIP call'))).toBeUndefined();
    setLegs(3);
    const err = refusal(() => a.check('SIP call'));
    expect(err?.code).toBe('Unavailable');
    expect(err?.message).toMatch(/limit of 3 legs; no new SIP call/);
    setLegs(2);
    expect(refusal(() => a.check('SIP call'))).toBeUndefined();
  });

  it('without a leg limit, any number of legs is admitted while the load is low', () => {
    const { a } = admission({}, 100_000);
    expect(refusal(() => a.check('WebRTC leg'))).toBeUndefined();
  });

  it('one busy sample does not refuse; a sustained load above the limit does, and admission resumes once it falls', () => {
    const { a } = admission({ maxLoad: 0.8 }, 0, [1, 0.2, 1, 1, 1, 0.1, 0.1, 0.1]);
    a.tick(); // 0.5
    expect(refusal(() => a.check('SIP call'))).toBeUndefined();
    a.tick(); // 0.35
    a.tick(); // 0.675
    a.tick(); // 0.84
    const err = refusal(() => a.check('SIP call'));
    expect(err?.code).toBe('Unavailable');
    expect(err?.message).toMatch(/at capacity \(84 % busy\)/);
    a.tick(); // 0.92
    a.tick(); // 0.51
    expect(refusal(() => a.check('SIP call'))).toBeUndefined();
  });

  it('a load limit of 1 turns the load check off', () => {
    const { a } = admission({ maxLoad: 1 }, 0, [1, 1, 1, 1]);
    for (let i = 0; i < 4; i++) a.tick();
    expect(a.currentLoad).toBeGreaterThan(0.9);
    expect(refusal(() => a.check('SIP call'))).toBeUndefined();
  });
});
