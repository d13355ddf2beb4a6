// Fair shares between readers and writers (issue 9, bench/files `mixed`): small reads and writes
// share one FIFO (a read does not overtake the small writes submitted before it, as in the thread
// pool of a bare Node server), and neither wakes a thread-pool thread. These tests count the
// thread-pool requests of one operation (the fs requests created in its own async context) and
// the order of answers, not time.
import { AsyncResource, createHook } from 'node:async_hooks';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

describe('FileService: thread-pool requests and read-after-write order of small operations', () => {
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

  it('a read issued while a small write is under way waits for it (reads what it wrote), and wakes no pool thread', async () => {
    for (const fill of ['y', 'z']) {
      const w = files.write('w.txt', Buffer.alloc(4096, fill));
      await microtasks(); // the write is on its writer thread; its answer cannot come before a poll phase
      const r = tracked(() => files.read('w.txt'));
      const g = tracked(() => files.openForRead('w.txt'));
      const [written, read, opened] = await Promise.all([w, r.done, g.done]);
      opened.close();
      expect(read.content).toBe(fill.repeat(4096));
      expect(read.version).toBe(written.version);
      expect(opened.version).toBe(written.version);
      expect(r.count()).toBe(0);
      expect(g.count()).toBe(0);
    }
  });
});
