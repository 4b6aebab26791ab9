/** The webhook sender thread's entry point (node:worker_threads): signs and POSTs what the dispatcher sends it. */
import { parentPort, workerData } from 'node:worker_threads';
import { WebhookSender, type Outcome } from './sender.js';
import type { FromSenderThread, SenderThreadOptions, ToSenderThread } from './senderThread.js';
import { WebhookSigner } from './signer.js';

if (!parentPort) throw new Error('senderThreadMain runs as a worker thread');
const port = parentPort;
const options = workerData as SenderThreadOptions;
const sender = new WebhookSender(options.url, { timeoutMs: options.timeoutMs, connections: options.connections });
const signer = new WebhookSigner(options.secret, options.applicationId);

let settled: [number, Outcome][] = [];
let flushQueued = false;
let inFlight = 0;
let closing = false;

/** Sends the outcomes settled so far in one message, once the responses read in this turn have all settled. */
function report(id: number, outcome: Outcome): void {
  settled.push([id, outcome]);
  inFlight--;
  if (flushQueued) return;
  flushQueued = true;
  setImmediate(() => {
    flushQueued = false;
    const outcomes = settled;
    settled = [];
    port.postMessage({ kind: 'settled', outcomes } satisfies FromSenderThread);
    if (closing && inFlight === 0) port.postMessage({ kind: 'closed' } satisfies FromSenderThread);
  });
}

async function attempt(id: number, payload: string, now: number): Promise<void> {
  inFlight++;
  let outcome: Outcome;
  try {
    outcome = await sender.send(payload, signer.sign(payload, new Date(now)));
  } catch (err) {
    outcome = { ok: false, status: null, error: err instanceof Error ? err.message.slice(0, 300) : 'signing failed' };
  }
  report(id, outcome);
}

port.on('message', (message: ToSenderThread) => {
  if (message.kind === 'send') {
    for (const [id, payload, now] of message.attempts) void attempt(id, payload, now);
    return;
  }
  // Shutdown: fail what is in flight; 'closed' follows the last of those outcomes.
  closing = true;
  void sender.abortAll().finally(() => {
    if (inFlight === 0 && !flushQueued) port.postMessage({ kind: 'closed' } satisfies FromSenderThread);
  });
});
