// Fair shares between readers and writers (issue 9, bench/files `mixed`). Under load the event
// loop serves each ready connection once per turn, so the turns an operation waits (for a
// thread-pool or writer-thread round trip, or on purpose) decide its share. These tests count the
// thread-pool requests of one operation (the fs requests created in its own async context) and
// the event-loop turns (check phases) before its answer, not time.
import { AsyncResource, createHook } from 'node:async_hooks';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileService } from './file-service.js';

const root = mkdtempSync(join(tmpdir(), 'icpy-fair-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const body = Buffer.alloc(4096, 'x');
writeFileSync(join(root, 'r.txt'), body);
writeFileSync(join(root, 'w.txt'), body);

/** Start `fn` in a fresh async context; `count()` = thread-pool fs requests made from it so far. */
function tracked<T>(fn: () => Promise<T>): { done: Promise<T>; count: () => number } {
  const mine = new Set<number>();
  let n = 0;
  const hook = createHook({
    init(id, type, triggerId) {
      if (!mine.has(triggerId)) return;
      mine.add(id);
      if (type === 'FSREQCALLBACK' || type === 'FSREQPROMISE') n++;
    },
  }).enable();
  const scope = new AsyncResource('fairness-test');
  mine.add(scope.asyncId());
  const done = scope.runInAsyncScope(fn).finally(() => hook.disable());
  return { done, count: () => n };
}

/** Let queued microtasks run, without letting the event loop reach its poll phase. */
async function microtasks(n = 100): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

describe('FileService: thread-pool round trips (event-loop turns) per small operation', () => {
  const files = new FileService(root);

  afterAll(() => files.dispose());

  it('a small write over an existing file makes no thread-pool request: its disk work is one round trip to the writer thread', async () => {
    const w = tracked(() => files.write('w.txt', body));
    await w.done;
    expect(w.count()).toBe(0);
    expect(readFileSync(join(root, 'w.txt'))).toEqual(body);
  });

  it('a small read makes none while no write waits on the thread pool', async () => {
    const r = tracked(() => files.read('r.txt'));
    await r.done;
    expect(r.count()).toBe(0);
    const g = tracked(() => files.openForRead('r.txt'));
    (await g.done).close();
    expect(g.count()).toBe(0);
  });

  it('while a small write waits off the main thread, a read wakes no pool thread and waits two event-loop turns (as many as the write)', async () => {
    // Go on from an I/O callback (a poll phase), as a request handler would.
    await stat(root);
    const w = files.write('w.txt', body);
    await microtasks(); // the write is on its writer thread; its answer cannot come before a poll phase
    // Check phases from here; the first is this iteration's, so polls passed = turns - 1.
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const at: number[] = [];
    const r = tracked(() => files.read('r.txt').then((x) => (at.push(turns), x)));
    const g = tracked(() => files.openForRead('r.txt').then((f) => (at.push(turns), f)));
    await Promise.all([w, r.done, g.done.then((f) => f.close())]);
    ticking = false;
    expect(r.count()).toBe(0);
    expect(g.count()).toBe(0);
    expect(Math.min(...at) - 1).toBeGreaterThanOrEqual(2);
  });
});
