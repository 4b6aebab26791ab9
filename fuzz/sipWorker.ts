import { parentPort, workerData } from 'node:worker_threads';
import type { Budget } from './property.js';
import { fuzzSipInProcess } from './sipTarget.js';

// The in-process SIP target on a thread of its own: it needs no gateway, and the live targets
// leave a core waiting on the network and the disk.
parentPort?.postMessage(fuzzSipInProcess(workerData as Budget));
