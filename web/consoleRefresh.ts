/**
 * A re-read of a gateway list, debounced and never overlapping: a burst of events asks for one
 * read, and a request made while a read is running gets one more read after it (which sees what
 * the running one may have missed).
 */
export class Refresher {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private again = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly delayMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Reads after the debounce delay. */
  schedule(): void {
    if (this.running) this.again = true;
    else this.timer ??= setTimeout(() => void this.run(), this.delayMs);
  }

  /** Reads at once (or right after the running read); resolves when that read is done. */
  async now(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) {
      this.again = true;
      return;
    }
    await this.run();
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    try {
      await this.task();
    } catch (err) {
      this.onError(err);
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      this.schedule();
    }
  }
}
