/**
 * One of several processes appending to one conversation at once through the real store on
 * PostgreSQL (test/unit/store/pg-event-ids.test.ts). Prints `ready`, waits for `go` on stdin, then
 * appends `count` events, each in a transaction that holds its id for a few milliseconds (so the
 * others queue up on it); every fifth transaction throws after taking its id and is rolled back.
 * Finally prints the ids it committed as JSON.
 *
 *   node --import tsx test/support/pgAppender.ts URL CONVERSATION_ID COUNT WORKER
 */
import { once } from 'node:events';
import { EventLog } from '../../src/events/eventLog.js';
import { systemClock } from '../../src/lib/clock.js';
import { Store } from '../../src/store/store.js';

const [url, conversationId, count, worker] = process.argv.slice(2);
if (url === undefined || conversationId === undefined || count === undefined || worker === undefined) {
  throw new Error('usage: pgAppender.ts URL CONVERSATION_ID COUNT WORKER');
}

class Refused extends Error {}

const store = Store.open('', { synchronous: 'normal', databaseUrl: url });
const log = new EventLog(store, systemClock, (err) => {
  throw err;
});
const hold = store.db.prepare('SELECT pg_sleep(?)');
process.stdout.write('ready\n');
process.stdin.setEncoding('utf8');
await once(process.stdin, 'data');

const committed: number[] = [];
let rolledBack = 0;
for (let i = 0; i < Number(count); i++) {
  try {
    const id = store.transaction(() => {
      const event = log.append({ conversation_id: conversationId, type: 'text', from: `MEM-${worker}`, body: { text: `worker ${worker} #${i}` } });
      hold.get(Math.random() * 0.004);
      if (i % 5 === 4) throw new Refused();
      return event.id;
    });
    committed.push(id);
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    rolledBack++;
  }
}
store.close();
process.stdout.write(`${JSON.stringify({ committed, rolledBack })}\n`);
process.stdin.destroy();
