import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LimitWarnings } from '../../src/services/limitWarnings.js';

/** A pino logger whose lines land in `lines`, parsed. */
function capture(): { logger: pino.Logger; lines: any[] } {
  const lines: any[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('limit warnings', () => {
  it('warns the first time a limit trips for a key, then stays quiet for that key for a minute', async () => {
    const { logger, lines } = capture();
    let now = 0;
    const warnings = new LimitWarnings(logger, () => now);

    for (let i = 0; i < 50; i++) warnings.tripped('max_sockets_per_ip', '10.0.0.1');
    warnings.tripped('max_sockets_per_ip', '10.0.0.2');
    warnings.tripped('max_legs_per_member', '10.0.0.1');
    now = 59_999;
    warnings.tripped('max_sockets_per_ip', '10.0.0.1');
    now = 60_000;
    warnings.tripped('max_sockets_per_ip', '10.0.0.1', { remote_address: '10.0.0.1' });
    await flush();

    expect(lines.map((l) => [l.level, l.limit, l.key])).toEqual([
      [40, 'max_sockets_per_ip', '10.0.0.1'],
      [40, 'max_sockets_per_ip', '10.0.0.2'],
      [40, 'max_legs_per_member', '10.0.0.1'],
      [40, 'max_sockets_per_ip', '10.0.0.1'],
    ]);
    expect(lines.at(-1)).toMatchObject({ remote_address: '10.0.0.1', msg: expect.stringContaining('max_sockets_per_ip') });
  });
});
