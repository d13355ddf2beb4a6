/**
 * Event data whose value is built on first use: the broker keeps it as it is (its history counts
 * `approxBytes`), and the value is made only when the event is encoded (a subscriber, SSE,
 * events.history) or read with `eventData`. On the wire nothing differs: JSON.stringify calls
 * `toJSON`, so the event's JSON is the built value's. For bulk data most events of which nobody
 * reads (exec output: the history keeps the last few MiB of a flood, and no one may subscribe),
 * so that building each value (a decoded string) is not paid for every event.
 *
 * `build` must be pure and its value plain JSON of about `approxBytes` characters (the caller
 * bounds it under maxEventBytes; the broker checks `approxBytes` only). It runs at most once, and
 * what it captured is released then.
 */
export class LazyEventData<T = unknown> {
  private value: T | undefined;
  private make: (() => T) | undefined;

  constructor(
    readonly approxBytes: number,
    build: () => T,
  ) {
    this.make = build;
  }

  /** The value (built now if it was not yet). */
  toJSON(): T {
    const make = this.make;
    if (make !== undefined) {
      this.make = undefined;
      this.value = make();
    }
    return this.value as T;
  }
}

/** An event's data as a value: lazy data is built (once). In-process handlers that read fields use this. */
export function eventData<T = unknown>(data: T | LazyEventData<T>): T {
  return data instanceof LazyEventData ? data.toJSON() : data;
}
