import { describe, expect, it } from 'vitest';
import { expiryMs, readSessionTimer, sessionTimerHeaders } from '../../../src/sip/sessionTimer.js';

describe('session timers (RFC 4028)', () => {
  it('takes the interval a caller that supports timers asks for', () => {
    expect(readSessionTimer('1800;refresher=uac', ['timer'])).toEqual({ kind: 'timer', interval: 1800 });
    expect(readSessionTimer('  600', ['100rel, Timer'])).toEqual({ kind: 'timer', interval: 600 });
    expect(sessionTimerHeaders(600)).toEqual(['Session-Expires: 600;refresher=uac', 'Require: timer']);
  });

  it('runs no timer when not asked, or when the caller cannot refresh, and refuses too small an interval', () => {
    expect(readSessionTimer(undefined, ['timer'])).toEqual({ kind: 'none' });
    expect(readSessionTimer('1800', [])).toEqual({ kind: 'none' });
    expect(readSessionTimer('soon', ['timer'])).toEqual({ kind: 'none' });
    expect(readSessionTimer('60', ['timer'])).toEqual({ kind: 'too-small' });
  });

  it('ends a call without refresh shortly before the interval runs out', () => {
    expect(expiryMs(1800)).toBe(1768_000);
    expect(expiryMs(90)).toBe(60_000);
  });
});
