/**
 * Output of one exec run as the CLI receives it: chunks `{stream, offset, data}` that may come
 * twice (the backlog of `exec.attach` and live output can overlap, an event and a notification can
 * carry the same chunk). `take` returns only the bytes not yet shown, so every byte is written
 * once and in order.
 *
 * The cursor is kept per stream. That is correct whether the server counts offsets in the run's
 * combined stream (the documented choice: a stdout chunk never overlaps a stderr range) or per
 * stream, so the CLI does not depend on that detail.
 */
export class RunOutput {
  private readonly next = new Map<string, number>();
  /** Bytes taken so far, all streams together. */
  bytes = 0;

  /** The part of `data` (at byte `offset` of `stream`) not yet taken; empty when all was. */
  take(stream: string, offset: number, data: Buffer): Buffer {
    const next = this.next.get(stream);
    const end = offset + data.length;
    if (next !== undefined && end <= next) return EMPTY;
    const fresh = next !== undefined && offset < next ? data.subarray(next - offset) : data;
    this.next.set(stream, end);
    this.bytes += fresh.length;
    return fresh;
  }

  /** The highest end offset seen on any stream (with combined offsets: the run's output so far). */
  get end(): number {
    let max = 0;
    for (const v of this.next.values()) max = Math.max(max, v);
    return max;
  }
}

const EMPTY = Buffer.alloc(0);

/** Exit status of `icpy run`: the program's exit code; killed by a signal → 128 + its number. */
export function exitStatus(exitCode: number | null | undefined, signal: number | string | null | undefined, signals: Record<string, number>): number {
  if (typeof exitCode === 'number') return exitCode;
  if (typeof signal === 'number') return 128 + signal;
  if (typeof signal === 'string' && signals[signal] !== undefined) return 128 + signals[signal]!;
  return 1;
}
