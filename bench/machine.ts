import { statfsSync } from 'node:fs';
import { arch, cpus, release, tmpdir, totalmem, type, version } from 'node:os';
import Database from 'better-sqlite3';
import { fixed, table } from './stats.js';

/** statfs f_type magic numbers of the filesystems a temp dir is likely on. */
const FS_TYPES: Record<number, string> = {
  0xef53: 'ext2/3/4',
  0x01021994: 'tmpfs',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x794c7630: 'overlayfs',
  0x6a656a63: 'fakeowner (Docker Desktop)',
  0x65735546: 'fuse',
  0x2fc12fc1: 'zfs',
};

function sqliteVersion(): string {
  const db = new Database(':memory:');
  try {
    const row = db.prepare('select sqlite_version() as v').get() as { v: string };
    return row.v;
  } finally {
    db.close();
  }
}

function tempFilesystem(): string {
  try {
    const magic = statfsSync(tmpdir()).type;
    return `${tmpdir()} on ${FS_TYPES[magic] ?? `filesystem type 0x${magic.toString(16)}`}`;
  } catch {
    return `${tmpdir()} (filesystem unknown)`;
  }
}

/** Lines describing the machine the figures come from. */
export function describeMachine(): string[] {
  const list = cpus();
  const model = list[0]?.model.trim() ?? 'unknown';
  return table([
    ['CPU', `${model} × ${list.length} logical cores`],
    ['Memory', `${fixed(totalmem() / 1024 ** 3, 1)} GiB total`],
    ['OS', `${type()} ${release()} (${arch()}) ${version()}`],
    ['Node', process.version],
    ['SQLite', `${sqliteVersion()} (better-sqlite3, WAL)`],
    ['Data dirs', tempFilesystem()],
  ]);
}
