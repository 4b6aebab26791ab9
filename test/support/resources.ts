/**
 * Measuring what a running gateway holds, so that tests can check it gives everything back:
 * the mediasoup worker processes' UDP sockets (ICE ports) and this process's active timers.
 * Linux only (reads /proc).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Resolves once `predicate` holds (checked at once, then every `intervalMs`); rejects after `timeoutMs`. */
export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string | (() => string) } = {},
): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) {
      const what = typeof options.what === 'function' ? options.what() : (options.what ?? 'a condition');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** One process as /proc/<pid>/stat describes it. */
interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split at the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const [state = '', ppid = ''] = text.slice(close + 2).split(' ');
  return { pid, comm: text.slice(open + 1, close), state, ppid: Number(ppid) };
}

/**
 * The pids of the live (not zombie) mediasoup workers that are children of `parent` (this process
 * by default). The kernel keeps 15 characters of the name: "mediasoup-worke".
 */
export function mediasoupWorkerPids(parent = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.ppid === parent && stat.comm.startsWith('mediasoup-work') && stat.state !== 'Z') pids.push(stat.pid);
  }
  return pids;
}

/** Inodes of every UDP socket (IPv4 and IPv6) in this network namespace. */
export function udpSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // no IPv6, for instance
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
      const inode = fields[9];
      if (inode !== undefined && inode !== '0') inodes.add(inode);
    }
  }
  return inodes;
}

/** How many of process `pid`'s open file descriptors are UDP sockets. */
export function udpSocketsOf(pid: number, udp = udpSocketInodes()): number {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0; // the process is gone
  }
  let count = 0;
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined && udp.has(inode)) count++;
  }
  return count;
}

/** UDP sockets held by this process's mediasoup workers, all together (throws when there is no worker). */
export function workerUdpSockets(parent = process.pid): number {
  const pids = mediasoupWorkerPids(parent);
  if (pids.length === 0) throw new Error(`no mediasoup worker is a child of process ${parent}`);
  const udp = udpSocketInodes();
  return pids.reduce((sum, pid) => sum + udpSocketsOf(pid, udp), 0);
}

/** This process's active (referenced) timers: setTimeout and setInterval that keep the loop alive. */
export function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/**
 * The active timer count once it has stopped moving (the same for `samples` checks in a row,
 * `intervalMs` apart): a baseline free of short-lived timers, such as the test runner's own
 * batched reporting, that happen to be pending at the moment of measuring.
 */
export async function settledTimerCount(options: { samples?: number; intervalMs?: number; timeoutMs?: number } = {}): Promise<number> {
  const { samples = 6, intervalMs = 50, timeoutMs = 5000 } = options;
  let value = activeTimers();
  let same = 1;
  await waitUntil(
    () => {
      const now = activeTimers();
      same = now === value ? same + 1 : 1;
      value = now;
      return same >= samples;
    },
    { timeoutMs, intervalMs, what: 'the number of active timers to settle' },
  );
  return value;
}

/** How many file descriptors process `pid` holds open (0 once it is gone). */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0; // the process is gone
  }
}

/** Whether process `pid` still exists (signal 0 probes it without touching it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, but is not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
