import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, lstatSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';

/** Every entry under `dir` with its type and contents (files) or target (links), sorted. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(p, r);
      } else out.push(`${r} = ${readFileSync(p, 'utf8')} (${st.mtimeMs})`);
    }
  };
  walk(dir, '');
  return out;
}

/**
 * The attack of issue 9: batches that swap a folder for an in-tree symlink to an outside folder
 * while other elements of the same and other batches create, write, copy, move and delete under
 * that folder's name. Nothing outside the root may ever appear, change or disappear.
 */
describe('confinement under concurrent renames and symlink swaps', () => {
  let s: TestServer;
  let outside: string;
  let clients: WsClient[];

  beforeAll(async () => {
    // Every element of a batch in flight at once, as in the original attack (batchConcurrency 8
    // spreads a batch out over time, so the swap rarely lands between a worker's calls).
    s = await startServer({ limits: { batchConcurrency: 64 } });
    outside = mkdtempSync(join(tmpdir(), 'icpy-outside-'));
    writeFileSync(join(outside, 'd.txt'), 'outside d');
    writeFileSync(join(outside, 'm.txt'), 'outside m');
    writeFileSync(join(outside, 'w.txt'), 'outside w');
    mkdirSync(join(outside, 'sub'));
    writeFileSync(join(outside, 'sub', 'k.txt'), 'outside k');
    mkdirSync(join(s.root, 'victim'));
    writeFileSync(join(s.root, 'src.txt'), 'src');
    // Made by another program: the API cannot create links, only move and copy them.
    symlinkSync(outside, join(s.root, 'link'));
    clients = await Promise.all([0, 1, 2, 3].map((i) => connect(s, { kind: 'agent', name: `racer${i}` })));
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await s.close();
    rmSync(outside, { recursive: true, force: true });
  });

  it('never creates, writes, moves, deletes or reads anything outside the root, however the calls interleave', async () => {
    const before = snapshot(outside);
    const swap = [
      { method: 'files.move', params: { from: 'victim', to: 'hold', overwrite: true } },
      { method: 'files.move', params: { from: 'link', to: 'victim' } },
    ];
    const back = [
      { method: 'files.move', params: { from: 'victim', to: 'link' } },
      { method: 'files.move', params: { from: 'hold', to: 'victim' } },
    ];
    const work = (i: number) => [
      { method: 'files.mkdir', params: { path: `victim/made${i}` } },
      { method: 'files.write', params: { path: `victim/new${i}/deep.txt`, content: 'x', mkdirs: true } },
      { method: 'files.write', params: { path: 'victim/w.txt', content: `inside ${i}` } },
      { method: 'files.write', params: { path: `victim/sub/n${i}.txt`, content: 'x', mkdirs: true } },
      { method: 'files.copy', params: { from: 'src.txt', to: `victim/c${i}.txt`, overwrite: true } },
      { method: 'files.delete', params: { path: 'victim/d.txt' } },
      { method: 'files.delete', params: { path: 'victim/sub', recursive: true } },
      { method: 'files.move', params: { from: 'victim/m.txt', to: `moved${i}.txt` } },
      // Reads: nothing outside may be read through the swapped name either.
      { method: 'files.read', params: { path: 'victim/d.txt' } },
      { method: 'files.read', params: { path: 'victim/sub/k.txt' } },
      { method: 'files.list', params: { path: 'victim/sub' } },
    ];
    let id = 1;
    const rounds = 40;
    const send = async (c: WsClient, calls: { method: string; params: unknown }[]) => {
      const batch = calls.map((m) => ({ jsonrpc: '2.0', id: id++, ...m }));
      const last = batch[batch.length - 1]!.id;
      c.send(batch);
      await c.waitFor(() => c.notifications.some((n) => n.method === '(response)' && n.params.id === last), 20_000, `batch up to ${last}`);
    };
    let swapping = 2;
    await Promise.all(
      clients.map(async (c, ci) => {
        if (ci % 2 === 0) {
          // Workers: create, write, copy, delete and move under the folder's name, while it is swapped.
          for (let r = 0; swapping > 0 || r < rounds; r++) await send(c, [...work(ci * 1000 + r), ...work(ci * 1000 + r + 500)]);
          return;
        }
        // Swappers: folder → link → folder, racing the workers (and each other).
        for (let r = 0; r < rounds; r++) {
          await send(c, [...swap, ...work(ci * 1000 + r)]);
          await send(c, back);
          // Put the tree back whatever the batches did, so every round races again.
          try {
            if (lstatSync(join(s.root, 'victim')).isSymbolicLink()) rmSync(join(s.root, 'victim'));
          } catch {
            // no victim
          }
          try {
            lstatSync(join(s.root, 'link'));
          } catch {
            symlinkSync(outside, join(s.root, 'link'));
          }
          rmSync(join(s.root, 'hold'), { recursive: true, force: true });
          mkdirSync(join(s.root, 'victim'), { recursive: true });
        }
        swapping--;
      }),
    );
    // The race happened: at some point the link stood where the folder was.
    const replies = clients.flatMap((c) => c.notifications.filter((n) => n.method === '(response)'));
    expect(replies.length).toBeGreaterThan(rounds * 2 * 10);
    expect(replies.some((r) => r.params.result && r.params.result.to === 'victim' && r.params.result.from === 'link')).toBe(true);
    expect(snapshot(outside)).toEqual(before);
    // No read answered with what is outside (the inside tree never holds d.txt or sub/k.txt).
    const leaked = replies.filter((r) => {
      const res = r.params.result;
      return res && ((typeof res.content === 'string' && res.content.startsWith('outside')) || (Array.isArray(res.entries) && res.entries.some((e: { name: string }) => e.name === 'k.txt')));
    });
    expect(leaked).toEqual([]);
    // Nothing that comes from outside was moved in either.
    const inside = readdirSync(s.root);
    for (const name of inside.filter((n) => n.startsWith('moved'))) expect(readFileSync(join(s.root, name), 'utf8')).not.toBe('outside m');
  }, 120_000);
});
