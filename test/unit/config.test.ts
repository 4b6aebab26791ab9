import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const SECRET = 'a-configured-secret-that-is-32-chars-or-more';

describe('configuration', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs on embedded defaults with nothing configured, generating a secret once in the data folder', () => {
    const first = loadConfig({ env: {}, cwd: dir });
    expect(first).toMatchObject({ host: '0.0.0.0', httpPort: 3000, sipPort: 5060, logLevel: 'info', secretSource: 'generated' });
    expect(first.dataDir).toBe(join(dir, 'data'));
    expect(first.rtpPorts).toEqual({ min: 20000, max: 29999 });
    expect(first.sipTrunks).toEqual(['127.0.0.1/32']);
    expect(first.secret.length).toBeGreaterThanOrEqual(32);
    expect(statSync(join(dir, 'data', 'secret')).mode & 0o077).toBe(0);

    const second = loadConfig({ env: {}, cwd: dir });
    expect(second.secret).toBe(first.secret);
    expect(second.applicationId).toBe(first.applicationId);
    expect(second.secretSource).toBe('data-dir');
    expect(second.signatureSecret).toBe(first.signatureSecret);
  });

  it('cluster settings: a node id kept in the data folder, the announced address for media, Redis only with a shared store', () => {
    const single = loadConfig({ env: {}, cwd: dir });
    expect(single.cluster).toMatchObject({ leaseMs: 10_000, redisUrl: undefined });
    expect(single.cluster.nodeId).toMatch(/^node-[0-9a-f]{8}$/);
    expect(loadConfig({ env: {}, cwd: dir }).cluster.nodeId).toBe(single.cluster.nodeId);

    const node = loadConfig({
      env: {
        LEGWAY_NODE_ID: 'edge-1',
        LEGWAY_NODE_LEASE_S: '5',
        LEGWAY_ANNOUNCED_IP: '192.0.2.7',
        LEGWAY_DATABASE_URL: 'postgres://legway@db.example/legway',
        LEGWAY_REDIS_URL: 'redis://cache.example:6379',
      },
      cwd: dir,
    });
    expect(node.cluster).toEqual({ nodeId: 'edge-1', leaseMs: 5000, redisUrl: 'redis://cache.example:6379' });
    expect(node.announcedIp).toBe('192.0.2.7');
    expect(node.rtc.announcedAddress).toBe('192.0.2.7');

    expect(() => loadConfig({ env: { LEGWAY_REDIS_URL: 'redis://cache.example:6379' }, cwd: dir })).toThrow(/set LEGWAY_DATABASE_URL too/);
    expect(() => loadConfig({ env: { LEGWAY_REDIS_URL: 'http://cache.example' }, cwd: dir })).toThrow(/LEGWAY_REDIS_URL/);
    expect(() => loadConfig({ env: { LEGWAY_NODE_ID: '../x' }, cwd: dir })).toThrow(/LEGWAY_NODE_ID/);
    expect(() => loadConfig({ env: { LEGWAY_ANNOUNCED_IP: 'example.com' }, cwd: dir })).toThrow(/LEGWAY_ANNOUNCED_IP/);
    expect(() => loadConfig({ env: { LEGWAY_NODE_LEASE_S: '1' }, cwd: dir })).toThrow(/LEGWAY_NODE_LEASE_S/);
  });

  it('keeps a webhook signature secret of its own in the data folder, never the token secret', () => {
    const first = loadConfig({ env: {}, cwd: dir });
    const configured = loadConfig({ env: { LEGWAY_SECRET: SECRET }, cwd: dir });

    expect(first.signatureSecret.length).toBeGreaterThanOrEqual(32);
    expect(first.signatureSecret).not.toBe(first.secret);
    expect(readFileSync(join(dir, 'data', 'signature_secret'), 'utf8').trim()).toBe(first.signatureSecret);
    expect(statSync(join(dir, 'data', 'signature_secret')).mode & 0o077).toBe(0);
    // A configured token secret does not become the signature secret either.
    expect(configured.signatureSecret).toBe(first.signatureSecret);
    expect(configured.signatureSecret).not.toBe(SECRET);
  });

  it('refuses a signature secret equal to the token secret, saying why', () => {
    const same = (): unknown => loadConfig({ env: { LEGWAY_SECRET: SECRET, LEGWAY_SIGNATURE_SECRET: SECRET }, cwd: dir });
    expect(same).toThrow(ConfigError);
    expect(same).toThrow(/LEGWAY_SIGNATURE_SECRET must differ from LEGWAY_SECRET/);
  });

  it('keeps the store in SQLite unless LEGWAY_DATABASE_URL names a PostgreSQL database, and never echoes its password', () => {
    expect(loadConfig({ env: {}, cwd: dir }).databaseUrl).toBeUndefined();
    for (const url of ['postgres://legway:pw@db.example:5432/legway', 'postgresql:///legway?host=/run/postgresql']) {
      expect(loadConfig({ env: { LEGWAY_DATABASE_URL: url }, cwd: dir }).databaseUrl).toBe(url);
    }
    for (const [url, problem] of [
      ['mysql://legway:hunter2-secret@db/legway', /LEGWAY_DATABASE_URL \(--database-url\): must start with postgres:\/\/ or postgresql:\/\//],
      ['db.example hunter2-secret', /LEGWAY_DATABASE_URL \(--database-url\): expected a postgres:\/\/ or postgresql:\/\/ URL/],
    ] as const) {
      let message = '';
      try {
        loadConfig({ env: { LEGWAY_DATABASE_URL: url }, cwd: dir });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(problem);
      expect(message).not.toContain('hunter2');
    }
  });

  it('turns the development login off unless LEGWAY_DEV_LOGIN says otherwise', () => {
    expect(loadConfig({ env: {}, cwd: dir }).devLogin).toBe(false);
    expect(loadConfig({ env: { LEGWAY_DEV_LOGIN: 'true' }, cwd: dir }).devLogin).toBe(true);
    expect(() => loadConfig({ env: { LEGWAY_DEV_LOGIN: 'maybe' }, cwd: dir })).toThrow(/LEGWAY_DEV_LOGIN/);
    expect(() => loadConfig({ env: { NODE_ENV: 'production', LEGWAY_SECRET: SECRET, LEGWAY_DEV_LOGIN: 'true' }, cwd: dir })).toThrow(
      /LEGWAY_DEV_LOGIN cannot be on when NODE_ENV=production/,
    );
  });

  it('reads LEGWAY_TOKEN_MAX_TTL as a duration, 24 hours by default', () => {
    expect(loadConfig({ env: {}, cwd: dir }).tokenMaxTtlSeconds).toBe(24 * 3600);
    expect(loadConfig({ env: { LEGWAY_TOKEN_MAX_TTL: '2h' }, cwd: dir }).tokenMaxTtlSeconds).toBe(7200);
    expect(() => loadConfig({ env: { LEGWAY_TOKEN_MAX_TTL: 'forever' }, cwd: dir })).toThrow(/LEGWAY_TOKEN_MAX_TTL.*duration/);
  });

  it('reads the contract environment names', () => {
    const c = loadConfig({
      env: {
        LEGWAY_HOST: '127.0.0.1',
        LEGWAY_HTTP_PORT: '0',
        LEGWAY_DATA_DIR: join(dir, 'elsewhere'),
        LEGWAY_SECRET: SECRET,
        LEGWAY_APPLICATION_ID: 'app-1',
        LEGWAY_EVENT_URL: 'http://127.0.0.1:9/events',
        LEGWAY_SIGNATURE_SECRET: 'b'.repeat(40),
        LEGWAY_ANSWER_URL: 'https://example.test/answer',
        LEGWAY_SIP_HOST: '127.0.0.1',
        LEGWAY_SIP_PORT: '5070',
        LEGWAY_SIP_TRUNKS: '10.0.0.0/8, 192.168.1.7,::1/128',
        LEGWAY_RTP_PORTS: '30000-30100',
        LEGWAY_MEDIA_DIR: 'sounds',
        LEGWAY_MEDIASOUP_WORKER: '/opt/worker',
        LEGWAY_LOG_LEVEL: 'debug',
      },
      cwd: dir,
    });
    expect(c).toMatchObject({
      host: '127.0.0.1',
      httpPort: 0,
      dataDir: join(dir, 'elsewhere'),
      secret: SECRET,
      secretSource: 'config',
      applicationId: 'app-1',
      eventUrl: 'http://127.0.0.1:9/events',
      signatureSecret: 'b'.repeat(40),
      answerUrl: 'https://example.test/answer',
      sipHost: '127.0.0.1',
      sipPort: 5070,
      sipTrunks: ['10.0.0.0/8', '192.168.1.7', '::1/128'],
      rtpPorts: { min: 30000, max: 30100 },
      mediaDir: join(dir, 'sounds'),
      mediasoupWorker: '/opt/worker',
      logLevel: 'debug',
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('honours MEDIASOUP_WORKER_BIN when LEGWAY_MEDIASOUP_WORKER is unset', () => {
    expect(loadConfig({ env: { MEDIASOUP_WORKER_BIN: '/w/bin' }, cwd: dir }).mediasoupWorker).toBe('/w/bin');
    expect(loadConfig({ env: { MEDIASOUP_WORKER_BIN: '/w/bin', LEGWAY_MEDIASOUP_WORKER: '/x' }, cwd: dir }).mediasoupWorker).toBe('/x');
  });

  it('lets flags beat environment beat file beat defaults', () => {
    const file = join(dir, 'legway.json');
    writeFileSync(file, JSON.stringify({ http_port: 4001, sip_port: 5071, log_level: 'warn', sip_trunks: ['10.1.0.0/16'] }));
    const c = loadConfig({ env: { LEGWAY_CONFIG: file, LEGWAY_SIP_PORT: '5072', LEGWAY_LOG_LEVEL: 'error' }, flags: { log_level: 'trace' }, cwd: dir });
    expect(c.httpPort).toBe(4001); // file
    expect(c.sipPort).toBe(5072); // env over file
    expect(c.logLevel).toBe('trace'); // flag over env
    expect(c.sipTrunks).toEqual(['10.1.0.0/16']);
    expect(c.host).toBe('0.0.0.0'); // default
  });

  it('reports every problem at once', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ http_port: 'eighty', nonsense: true }));
    let error: unknown;
    try {
      loadConfig({
        env: { LEGWAY_CONFIG: file, LEGWAY_SIP_PORT: '70000', LEGWAY_RTP_PORTS: '5-1', LEGWAY_SIP_TRUNKS: 'not-an-ip', LEGWAY_SECRET: 'short' },
        cwd: dir,
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['nonsense', 'LEGWAY_HTTP_PORT', 'LEGWAY_SIP_PORT', 'LEGWAY_RTP_PORTS', 'LEGWAY_SIP_TRUNKS', 'LEGWAY_SECRET']) {
      expect(problems).toContain(name);
    }
  });

  it('reads LEGWAY_RTC_DISCONNECT_GRACE_S in seconds (default 10) and hands it on in milliseconds, within 1..3600', () => {
    expect(loadConfig({ env: {}, cwd: dir }).rtc.disconnectGraceMs).toBe(10_000);
    expect(loadConfig({ env: { LEGWAY_RTC_DISCONNECT_GRACE_S: '1' }, cwd: dir }).rtc.disconnectGraceMs).toBe(1000);
    expect(loadConfig({ env: { LEGWAY_RTC_DISCONNECT_GRACE_S: '3600' }, cwd: dir }).rtc.disconnectGraceMs).toBe(3_600_000);
    for (const bad of ['0', '3601', '1.5', 'soon']) {
      expect(() => loadConfig({ env: { LEGWAY_RTC_DISCONNECT_GRACE_S: bad }, cwd: dir }), bad).toThrow(
        /LEGWAY_RTC_DISCONNECT_GRACE_S \(--rtc-disconnect-grace-s\)/,
      );
    }
  });

  it('reads LEGWAY_SQLITE_SYNC_SPACING_MS in whole milliseconds, 8 by default, within 0..20', () => {
    expect(loadConfig({ env: {}, cwd: dir }).sqliteSyncSpacingMs).toBe(8);
    expect(loadConfig({ env: { LEGWAY_SQLITE_SYNC_SPACING_MS: '0' }, cwd: dir }).sqliteSyncSpacingMs).toBe(0);
    expect(loadConfig({ env: { LEGWAY_SQLITE_SYNC_SPACING_MS: '20' }, cwd: dir }).sqliteSyncSpacingMs).toBe(20);
    for (const bad of ['-1', '21', '2.5', 'soon']) {
      expect(() => loadConfig({ env: { LEGWAY_SQLITE_SYNC_SPACING_MS: bad }, cwd: dir }), bad).toThrow(
        /LEGWAY_SQLITE_SYNC_SPACING_MS \(--sqlite-sync-spacing-ms\)/,
      );
    }
  });

  it('reads LEGWAY_MEDIA_PRIORITY as a nice value, -10 by default, within -20..19', () => {
    expect(loadConfig({ env: {}, cwd: dir }).mediaPriority).toBe(-10);
    expect(loadConfig({ env: { LEGWAY_MEDIA_PRIORITY: '0' }, cwd: dir }).mediaPriority).toBe(0);
    expect(loadConfig({ env: { LEGWAY_MEDIA_PRIORITY: '-20' }, cwd: dir }).mediaPriority).toBe(-20);
    for (const bad of ['-21', '20', '1.5', 'high']) {
      expect(() => loadConfig({ env: { LEGWAY_MEDIA_PRIORITY: bad }, cwd: dir }), bad).toThrow(/LEGWAY_MEDIA_PRIORITY \(--media-priority\)/);
    }
  });

  it('reads LEGWAY_SIP_CALLERS and refuses a caller password shorter than 8 characters, without showing it', () => {
    const c = loadConfig({ env: { LEGWAY_SIP_CALLERS: 'alice:wonderland-42, bob:12345678' }, cwd: dir });
    expect([...c.sipCallers.users]).toEqual([
      ['alice', 'wonderland-42'],
      ['bob', '12345678'],
    ]);
    let error: unknown;
    try {
      loadConfig({ env: { LEGWAY_SIP_CALLERS: 'alice:wonderland-42,bob:1234567' }, cwd: dir });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/LEGWAY_SIP_CALLERS.*8 characters or more/);
    expect(problems).not.toContain('1234567');
  });

  it('reads LEGWAY_METRICS_TOKEN and LEGWAY_METRICS_LISTEN (HOST:PORT, IPv6 in brackets), both unset by default, and refuses bad ones without showing the token', () => {
    expect(loadConfig({ env: {}, cwd: dir }).metrics).toEqual({ token: undefined, listen: undefined });
    expect(loadConfig({ env: { LEGWAY_METRICS_TOKEN: 'scraper-token-0123456789', LEGWAY_METRICS_LISTEN: '10.1.2.3:9464' }, cwd: dir }).metrics).toEqual({
      token: 'scraper-token-0123456789',
      listen: { host: '10.1.2.3', port: 9464 },
    });
    expect(loadConfig({ env: { LEGWAY_METRICS_LISTEN: '[::1]:0' }, cwd: dir }).metrics.listen).toEqual({ host: '::1', port: 0 });
    expect(loadConfig({ env: { LEGWAY_METRICS_LISTEN: 'localhost:9464' }, cwd: dir }).metrics.listen).toEqual({ host: 'localhost', port: 9464 });
    for (const bad of ['9464', '127.0.0.1', '127.0.0.1:70000', '::1:9464', '[nope]:1', 'host :1']) {
      expect(() => loadConfig({ env: { LEGWAY_METRICS_LISTEN: bad }, cwd: dir }), bad).toThrow(/LEGWAY_METRICS_LISTEN \(--metrics-listen\)/);
    }
    for (const bad of ['short-token', 'has a space in the middle of it']) {
      let error: unknown;
      try {
        loadConfig({ env: { LEGWAY_METRICS_TOKEN: bad }, cwd: dir });
      } catch (err) {
        error = err;
      }
      const problems = (error as ConfigError).problems.join('\n');
      expect(problems).toContain('LEGWAY_METRICS_TOKEN');
      expect(problems).not.toContain(bad);
    }
  });

  it('has the limits a client may grow, each configurable, and refuses a send buffer too small for one message', () => {
    expect(loadConfig({ env: {}, cwd: dir }).limits).toEqual({
      legsPerMember: 4,
      legsPerConversation: 50,
      membersPerConversation: 200,
      socketsPerSubject: 10,
      socketsPerIp: 100,
      socketMaxBufferedBytes: 4 * 1024 * 1024,
      replayPageEvents: 200,
      knocksPerMinute: 10,
    });
    const set = loadConfig({
      env: {
        LEGWAY_MAX_LEGS_PER_MEMBER: '1',
        LEGWAY_MAX_LEGS_PER_CONVERSATION: '2',
        LEGWAY_MAX_MEMBERS_PER_CONVERSATION: '3',
        LEGWAY_MAX_SOCKETS_PER_SUBJECT: '4',
        LEGWAY_MAX_SOCKETS_PER_IP: '5',
        LEGWAY_SOCKET_MAX_BUFFERED_BYTES: '1048576',
        LEGWAY_REPLAY_PAGE_EVENTS: '7',
        LEGWAY_KNOCK_RATE_LIMIT: '8',
      },
      cwd: dir,
    });
    expect(set.limits).toEqual({
      legsPerMember: 1,
      legsPerConversation: 2,
      membersPerConversation: 3,
      socketsPerSubject: 4,
      socketsPerIp: 5,
      socketMaxBufferedBytes: 1_048_576,
      replayPageEvents: 7,
      knocksPerMinute: 8,
    });
    expect(() => loadConfig({ env: { LEGWAY_MAX_LEGS_PER_MEMBER: '0' }, cwd: dir })).toThrow(/LEGWAY_MAX_LEGS_PER_MEMBER/);
    expect(() => loadConfig({ env: { LEGWAY_SOCKET_MAX_BUFFERED_BYTES: '300000', LEGWAY_BODY_LIMIT: '100000' }, cwd: dir })).toThrow(
      /LEGWAY_SOCKET_MAX_BUFFERED_BYTES \(--socket-max-buffered-bytes\): must be at least 4 × LEGWAY_BODY_LIMIT/,
    );
  });

  it('refuses to start in production without a configured secret, and never writes one there', () => {
    expect(() => loadConfig({ env: { NODE_ENV: 'production' }, cwd: dir })).toThrow(/LEGWAY_SECRET is required when NODE_ENV=production/);
    expect(() => readFileSync(join(dir, 'data', 'secret'))).toThrow();
    expect(loadConfig({ env: { NODE_ENV: 'production', LEGWAY_SECRET: SECRET }, cwd: dir }).production).toBe(true);
  });

  it('reports an unreadable or malformed config file', () => {
    expect(() => loadConfig({ file: join(dir, 'missing.json'), env: {}, cwd: dir })).toThrow(/cannot be read/);
    writeFileSync(join(dir, 'broken.json'), '{ nope');
    expect(() => loadConfig({ file: join(dir, 'broken.json'), env: {}, cwd: dir })).toThrow(/not valid JSON/);
  });
});
