import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { chromiumMissing, launchChromium } from '../test/support/browser.js';
import { APPLICATION, seedConversation, startBenchGateway } from './gateway.js';
import { fixed, startWindow, table, type BenchResult } from './stats.js';

const CONVERSATIONS = 4;
const RATES = [200, 1000];
const SECONDS = 6;
const TICK_MS = 20;
const WARMUP = 200;
const IDLE_MS = 2000;
const TIMEOUT_MS = 60_000;

export const consoleMethod =
  `The operator console (/console, built by npm run build) in headless Chromium (/usr/bin/chromium), signed in with an ` +
  `operator token in the URL fragment, watching every conversation. Texts are posted through the service as the ` +
  `application, round-robin over ${CONVERSATIONS} conversations, at ${RATES.join(' and ')} events/s (a batch every ` +
  `${TICK_MS} ms) for ${SECONDS} s each, after ${WARMUP} warm-up texts. Browser CPU is the page's main-thread task time ` +
  '(Chrome DevTools Protocol Performance.getMetrics TaskDuration: decoding, the store, style, layout and paint in ' +
  `software, headless), less what the idle page uses (measured over ${IDLE_MS / 1000} s first). "Behind" is the time ` +
  'from the last post until the last text of every conversation is a row of the stream. The gateway shares the cores.';

/** Seconds of main-thread task time the page has used so far. */
async function taskSeconds(cdp: { send(method: 'Performance.getMetrics'): Promise<{ metrics: { name: string; value: number }[] }> }): Promise<number> {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return metrics.find((m) => m.name === 'TaskDuration')?.value ?? Number.NaN;
}

/** Benchmark 7: how fast the operator console takes in a stream of events. */
export async function benchConsole(): Promise<BenchResult> {
  const missing = chromiumMissing();
  if (missing !== undefined) return { lines: [`    SKIPPED: ${missing}.`], failures: [] };
  const gw = await startBenchGateway();
  const browser = await launchChromium();
  try {
    const rooms = Array.from({ length: CONVERSATIONS }, (_, i) => seedConversation(gw.app, `console-bench-${i + 1}`));
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    await page.goto(`${gw.url}/console#token=${await gw.token('bench-operator', 'operator')}`);
    await page
      .locator('#connection')
      .filter({ hasText: /^connected$/ })
      .waitFor({ timeout: TIMEOUT_MS });

    let n = 0;
    const post = (): number => {
      const room = rooms[n % CONVERSATIONS]!;
      n++;
      return gw.app.services.events.post(room.conversationId, { type: 'text', from: room.senderId, body: { text: `console bench ${n}` } }, APPLICATION).id;
    };
    const rowsFor = async (lastIds: Map<string, number>): Promise<void> => {
      await Promise.all(
        [...lastIds].map(([cid, id]) =>
          page.locator(`#events li[data-conversation-id="${cid}"][data-event-id="${id}"]`).waitFor({ state: 'attached', timeout: TIMEOUT_MS }),
        ),
      );
    };

    const last = new Map<string, number>();
    for (let i = 0; i < WARMUP; i++) {
      last.set(rooms[n % CONVERSATIONS]!.conversationId, post());
      await yieldToLoop();
    }
    await rowsFor(last);

    // What the page costs when nothing happens, to subtract from the loaded figures.
    const idle0 = await taskSeconds(cdp);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idlePerMs = ((await taskSeconds(cdp)) - idle0) / IDLE_MS;

    const rows: [string, string][] = [['Idle page', `${fixed(idlePerMs * 1e6, 1)} µs of main thread per second`]];
    for (const rate of RATES) {
      const perTick = (rate * TICK_MS) / 1000;
      const ticks = (SECONDS * 1000) / TICK_MS;
      const task0 = await taskSeconds(cdp);
      const stop = startWindow();
      const began = Date.now();
      for (let t = 0; t < ticks; t++) {
        for (let i = 0; i < perTick; i++) last.set(rooms[n % CONVERSATIONS]!.conversationId, post());
        const next = began + (t + 1) * TICK_MS;
        while (Date.now() < next) await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
      const posted = Date.now();
      await rowsFor(last);
      const behindMs = Date.now() - posted;
      const w = stop();
      const events = perTick * ticks;
      const browserUs = ((await taskSeconds(cdp)) - task0) * 1e6 - (idlePerMs * 1e6 * w.wallMs) / 1000;
      rows.push([
        `${rate} events/s`,
        `${fixed(browserUs / events, 1)} µs of browser main thread per event (${fixed((browserUs / 1000 / w.wallMs) * 100, 1)} % of a core); behind by ${fixed(behindMs)} ms at the end; gateway process ${fixed(w.cpuUs / events, 1)} µs per event`,
      ]);
    }
    const kept = await page.locator('#events li').count();
    rows.push(['Rows kept', `${fixed(kept)} (the stream keeps the newest 1,000)`]);

    return { failures: [], lines: table(rows) };
  } finally {
    await browser.close();
    await gw.close();
  }
}
