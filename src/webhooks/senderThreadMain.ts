/** The webhook sender thread's entry point (node:worker_threads): signs and POSTs what the dispatcher sends it. */
import { parentPort, workerData } from 'node:worker_threads';
import { WebhookSender, type Outcome } from './sender.js';
import type { FromSenderThread, LaneOutcome, SenderThreadOptions, ToSenderThread } from './senderThread.js';
import { WebhookSigner } from './signer.js';

if (!parentPort) throw new Error('senderThreadMain runs as a worker thread');
const port = parentPort;
const options = workerData as SenderThreadOptions;
const sender = new WebhookSender(options.url, { timeoutMs: options.timeoutMs, connections: options.connections });
const signer = new WebhookSigner(options.secret, options.applicationId);

let settled: LaneOutcome[] = [];
let flushQueued = false;
/** Lanes running. */
let inFlight = 0;
let closing = false;

/** Sends the outcomes settled so far in one message, once the responses read in this turn have all settled. */
function report(outcome: LaneOutcome): void {
  settled.push(outcome);
  if (outcome[3]) inFlight--;
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

async function attempt(payload: string, now: number): Promise<Outcome> {
  try {
    return await sender.send(payload, signer.sign(payload, new Date(now)));
  } catch (err) {
    return { ok: false, status: null, error: err instanceof Error ? err.message.slice(0, 300) : 'signing failed' };
  }
}

/** Sends the lane's payloads in order while they are accepted; a shutdown stops it after the attempt in flight. */
async function run(id: number, payloads: string[], clockOffsetMs: number): Promise<void> {
  inFlight++;
  if (payloads.length === 0) report([id, 0, { ok: false, status: null, error: 'nothing to send' }, true]);
  for (let index = 0; index < payloads.length; index++) {
    const outcome = await attempt(payloads[index] ?? '', Date.now() + clockOffsetMs);
    const ended = !outcome.ok || closing || index === payloads.length - 1;
    report([id, index, outcome, ended]);
    if (ended) return;
  }
}

port.on('message', (message: ToSenderThread) => {
  if (message.kind === 'send') {
    for (const [id, payloads, clockOffsetMs] of message.lanes) void run(id, payloads, clockOffsetMs);
    return;
  }
  // Shutdown: fail what is in flight; 'closed' follows the last of those outcomes.
  closing = true;
  void sender.abortAll().finally(() => {
    if (inFlight === 0 && !flushQueued) port.postMessage({ kind: 'closed' } satisfies FromSenderThread);
  });
});
