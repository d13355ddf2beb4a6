/**
 * The byte cursor of one output stream (a terminal, a run) that a client re-attaches to with
 * `since`. The server promises no gap and no duplicate within one attachment, but a re-attach
 * after a reconnect can overlap what already arrived (frames in flight on the old socket), and a
 * scrollback trimmed while we were away leaves a gap. `accept` returns the part of a chunk that is
 * new, and says when bytes were lost, so each byte is shown exactly once.
 */
export interface Accepted {
  /** The new bytes of the chunk (empty when it was all seen before). */
  data: Uint8Array;
  /** Bytes between what we had and this chunk that nobody will send again (0 = none). */
  lost: number;
}

export class StreamCursor {
  /** Offset of the next byte we expect; `since` for the next attach. */
  next: number;

  constructor(start = 0) {
    this.next = start;
  }

  accept(offset: number, data: Uint8Array): Accepted {
    const end = offset + data.byteLength;
    if (end <= this.next) return { data: data.subarray(0, 0), lost: 0 };
    const lost = offset > this.next ? offset - this.next : 0;
    const skip = offset < this.next ? this.next - offset : 0;
    this.next = end;
    return { data: skip ? data.subarray(skip) : data, lost };
  }
}
