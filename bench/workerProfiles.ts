import type { Session } from 'node:inspector/promises';
import { setTimeout as sleep } from 'node:timers/promises';

interface WorkerInfo {
  workerId: string;
  type: string;
  title: string;
  url: string;
}

/** A worker thread's CPU profile (V8's .cpuprofile) and what the thread runs. */
export interface WorkerProfile {
  workerId: string;
  url: string;
  profile: unknown;
}

/**
 * CPU profiles of this process's worker threads (the media threads, the webhook sender, the
 * checkpoint worker), taken through the main thread's inspector session: its NodeWorker domain
 * attaches to each thread running when this is called and relays the Profiler domain's messages.
 * Returns the function that stops them and hands them back.
 */
export async function startWorkerProfiles(session: Session, intervalUs: number): Promise<() => Promise<WorkerProfile[]>> {
  const workers = new Map<string, WorkerInfo>();
  const replies = new Map<string, (result: unknown) => void>();
  let nextId = 1;
  const events = session as unknown as { on(event: string, listener: (message: { params: Record<string, unknown> }) => void): void };
  events.on('NodeWorker.attachedToWorker', ({ params }) => workers.set(params['sessionId'] as string, params['workerInfo'] as WorkerInfo));
  events.on('NodeWorker.receivedMessageFromWorker', ({ params }) => {
    const message = JSON.parse(params['message'] as string) as { id?: number; result?: unknown };
    if (message.id === undefined) return;
    const key = `${params['sessionId'] as string}:${message.id}`;
    replies.get(key)?.(message.result);
    replies.delete(key);
  });
  const call = (sessionId: string, method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve) => {
      const id = nextId++;
      replies.set(`${sessionId}:${id}`, resolve);
      void session.post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id, method, params }) });
    });
  await session.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
  // The threads already running are announced right after `enable`, each in a message of its own.
  await sleep(200);
  for (const sessionId of workers.keys()) {
    await call(sessionId, 'Profiler.enable');
    await call(sessionId, 'Profiler.setSamplingInterval', { interval: intervalUs });
    await call(sessionId, 'Profiler.start');
  }
  return async () => {
    const profiles: WorkerProfile[] = [];
    for (const [sessionId, info] of workers) {
      const result = (await call(sessionId, 'Profiler.stop')) as { profile?: unknown } | undefined;
      if (result?.profile !== undefined) profiles.push({ workerId: info.workerId, url: info.url, profile: result.profile });
    }
    await session.post('NodeWorker.disable');
    return profiles;
  };
}
