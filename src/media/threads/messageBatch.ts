/**
 * Messages to another thread gathered over one turn of the event loop and posted as one array.
 * A postMessage costs a structured clone, a lock and a wake-up of the other side whatever its
 * size, and a SIP call sends several small ones as it sets up and ends (and several calls arrive
 * in one turn under load), so one post per turn is much cheaper than one per message. Order is
 * kept: the receiver handles the array's messages in turn.
 */
export class MessageBatch<M> {
  private messages: M[] = [];
  private transfer: ArrayBuffer[] = [];
  private scheduled = false;

  /** `post` sends one array (with the buffers to move) to the other thread. */
  constructor(private readonly post: (messages: M[], transfer: ArrayBuffer[]) => void) {}

  /** Queues a message; it leaves at the end of this turn, after every message queued before it. */
  push(message: M, transfer?: ArrayBuffer[]): void {
    this.messages.push(message);
    if (transfer) this.transfer.push(...transfer);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Posts what is queued now. */
  flush(): void {
    this.scheduled = false;
    if (this.messages.length === 0) return;
    const messages = this.messages;
    const transfer = this.transfer;
    this.messages = [];
    this.transfer = [];
    this.post(messages, transfer);
  }

  /** Drops what is queued (the other thread is gone). */
  clear(): void {
    this.messages = [];
    this.transfer = [];
  }
}
