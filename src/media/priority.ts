/**
 * Scheduling priority of the threads that keep audio on time: the media threads (the bridges' 20 ms
 * ticks and the legs' RTP sockets) and the mediasoup workers. On a busy machine the kernel may hold
 * a runnable thread back for tens of milliseconds; a lower nice value (a higher priority) lets a
 * tick that falls due run ahead of signalling, storage and anything else on the machine.
 *
 * Raising a priority (a negative nice value) needs CAP_SYS_NICE or a nice limit that allows it
 * (RLIMIT_NICE: `ulimit -e`, systemd's LimitNICE=, `docker run --ulimit nice=30` for -10); lowering
 * it never does. Where it is refused, audio runs at the normal
 * priority and the refusal is logged once.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from 'pino';

/** What came of setting a priority: the nice value now in force, or why it could not be set. */
export type PriorityOutcome = { ok: true; nice: number } | { ok: false; reason: string };

const reasonOf = (err: unknown): string => {
  const code = (err as { code?: unknown }).code;
  if (code === 'EACCES' || code === 'EPERM') return 'not permitted (a negative value needs CAP_SYS_NICE or a nice limit that allows it)';
  return err instanceof Error ? err.message : String(err);
};

/** Sets the nice value of one thread or process (Linux: a thread id names one thread only). */
export function setNice(id: number, nice: number): PriorityOutcome {
  try {
    setPriority(id, nice);
    return { ok: true, nice: getPriority(id) };
  } catch (err) {
    return { ok: false, reason: reasonOf(err) };
  }
}

/**
 * The kernel's id of the calling thread (Linux), for setting the priority of this thread alone: a
 * worker thread shares its process's pid. Undefined where /proc/thread-self does not exist.
 */
export function currentThreadId(): number | undefined {
  try {
    // "<pid>/task/<tid>"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** Sets the calling thread's nice value (a media thread's own); logs where that is refused. */
export function prioritiseThisThread(nice: number, logger: Logger): PriorityOutcome {
  const tid = currentThreadId();
  if (tid === undefined) return { ok: false, reason: 'thread ids are not available on this platform' };
  const outcome = setNice(tid, nice);
  if (outcome.ok) logger.debug({ nice: outcome.nice }, 'media thread priority set');
  else logger.info({ nice, reason: outcome.reason }, 'media thread runs at the normal priority');
  return outcome;
}
