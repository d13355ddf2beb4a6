/**
 * Fair turns for large synchronous work (decoding a big file into a string, encoding a big
 * reply). Each step of such work waits for a turn; one turn is granted per event-loop iteration,
 * in FIFO order, server-wide. Between two steps the loop polls I/O, so a small request (a health
 * check, a keystroke) waits behind at most one step however many large replies are being built —
 * without turns, reads completing together chained their decode and encode into one block of
 * hundreds of milliseconds (issue 9, bench/abuse `batch-reads`).
 *
 * A step should be about a slice of `SLICE_CHARS` characters (a few milliseconds).
 */
export const SLICE_CHARS = 512 * 1024;

export class TurnQueue {
  private readonly waiting: (() => void)[] = [];
  private pumping = false;

  /** Resolves when it is this caller's turn (in a later event-loop iteration). */
  take(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      if (!this.pumping) {
        this.pumping = true;
        setImmediate(this.pump);
      }
    });
  }

  get length(): number {
    return this.waiting.length;
  }

  private readonly pump = (): void => {
    const next = this.waiting.shift();
    if (next) next();
    if (this.waiting.length) setImmediate(this.pump);
    else this.pumping = false;
  };
}

/** The process's one queue: every large step in the server shares it, so fairness is server-wide. */
export const largeWork = new TurnQueue();
