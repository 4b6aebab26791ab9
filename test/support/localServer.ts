/**
 * Servers the tests start as plain local processes (PostgreSQL here; Redis and Kamailio in the
 * cluster tests): their output kept for error messages, a wait for their TCP port, and a stop.
 */
import type { ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Owned {
  child: ChildProcess;
  name: string;
  output: () => string;
}

/** Keeps the last 20,000 characters a server wrote, to show when it fails. */
export function own(name: string, child: ChildProcess): Owned {
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-20_000)));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-20_000)));
  return { child, name, output: () => output };
}

export async function waitForTcp(port: number, what: Owned, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (what.child.exitCode !== null) throw new Error(`${what.name} exited with ${what.child.exitCode}: ${what.output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what.name} did not listen on ${port}: ${what.output()}`);
    await sleep(100);
  }
}

/** Signals `pid` (the server's own process by default) and waits up to 10 s for the child to exit, then kills it. */
export async function stopChild(owned: Owned, signal: NodeJS.Signals, pid = owned.child.pid): Promise<void> {
  if (owned.child.exitCode !== null || pid === undefined) return;
  const exited = new Promise<void>((resolve) => owned.child.once('exit', () => resolve()));
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!stopped) owned.child.kill('SIGKILL');
}
