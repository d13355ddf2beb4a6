import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../src/services/process-tree.js';
import { connect, startServer, type TestServer, type WsClient, rpcError } from './helpers/server.js';

const BASH = { shell: '/bin/bash', args: ['--norc', '--noprofile'], env: { PS1: '$ ', HISTFILE: '/dev/null' } };

function output(c: WsClient, id: string): string {
  return c.notifications
    .filter((n) => n.method === 'terminal.output' && n.params.id === id)
    .map((n) => n.params.data)
    .join('');
}

describe('terminals: limit on live terminals', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ limits: { maxTerminals: 3 } });
  });
  afterAll(async () => {
    await s.close();
  });

  it('terminal.create and terminal.run past limits.maxTerminals answer LIMIT_EXCEEDED; exited ones do not count', async () => {
    const c = await connect(s);
    const ids: string[] = [];
    try {
      for (let i = 0; i < 3; i++) ids.push((await c.call('terminal.create', { ...BASH, cols: 80, rows: 24 })).id);
      for (const call of [
        () => c.call('terminal.create', { ...BASH, cols: 80, rows: 24 }),
        () => c.call('terminal.run', { command: 'echo hi', timeout: 5000 }),
        () => s.call('terminal.create', { cols: 80, rows: 24 }),
      ]) {
        const err = await rpcError(call());
        expect(err.code).toBe(-32008);
        expect(err.data).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxTerminals', max: 3 });
      }
      expect((await c.call('terminal.list', {})).terminals).toHaveLength(3);
      // One exits: it stays listed, but a new one may start.
      await c.call('events.subscribe', { patterns: ['terminal.exited'] });
      await c.call('terminal.write', { id: ids[0], data: 'exit 0\r' });
      await c.waitFor(() => c.events().find((e) => e.data.id === ids[0]), 5000, 'exit');
      const run = await c.call('terminal.run', { command: 'echo fits', timeout: 10_000 });
      expect(run.output).toBe('fits\n');
      ids.push(run.id);
      ids.push((await c.call('terminal.create', { ...BASH, cols: 80, rows: 24 })).id);
      expect((await rpcError(c.call('terminal.create', { ...BASH, cols: 80, rows: 24 }))).data.code).toBe('LIMIT_EXCEEDED');
      // Closing one makes room again.
      await c.call('terminal.close', { id: ids[1] });
      ids.push((await c.call('terminal.create', { ...BASH, cols: 80, rows: 24 })).id);
    } finally {
      for (const id of ids) await c.call('terminal.close', { id }).catch(() => undefined);
      await c.close();
    }
  });
});

describe('terminals: exited terminals are reaped after the grace period', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ limits: { exitedTerminalGraceMs: 1500 } });
  });
  afterAll(async () => {
    await s.close();
  });

  it('an exited terminal and a terminal.run stay readable during the grace period, then terminal.closed {reason: "reaped"} removes them', async () => {
    const c = await connect(s);
    await c.call('events.subscribe', { patterns: ['terminal.*'] });
    const t = await c.call('terminal.create', { ...BASH, cols: 80, rows: 24 });
    await c.call('terminal.write', { id: t.id, data: 'echo last-words-$((6*7)); exit 4\r' });
    await c.waitFor(() => c.events().find((e) => e.topic === 'terminal.exited' && e.data.id === t.id), 5000, 'exit');
    const run = await c.call('terminal.run', { command: 'echo ran-$((1+1))', timeout: 10_000 });
    await c.waitFor(() => c.events().find((e) => e.topic === 'terminal.exited' && e.data.id === run.id), 5000, 'run exit');

    // Within the grace period: listed, and attach replays the final output.
    const listed = (await c.call('terminal.list', {})).terminals;
    expect(listed.find((x: { id: string }) => x.id === t.id)).toMatchObject({ status: 'exited', exitCode: 4 });
    expect(listed.find((x: { id: string }) => x.id === run.id)).toMatchObject({ status: 'exited' });
    const reader = await connect(s);
    const a = await reader.call('terminal.attach', { id: t.id });
    expect(a.status).toBe('exited');
    await reader.waitFor(() => output(reader, t.id).includes('last-words-42'), 5000, 'final output');
    await reader.call('terminal.attach', { id: run.id });
    await reader.waitFor(() => output(reader, run.id).includes('ran-2'), 5000, 'run output');

    // After it: removed, with an event naming the reason.
    for (const id of [t.id, run.id]) {
      const ev = await c.waitFor(() => c.events().find((e) => e.topic === 'terminal.closed' && e.data.id === id), 10_000, `reaped ${id}`);
      expect(ev.data).toEqual({ id, reason: 'reaped' });
    }
    const after = (await c.call('terminal.list', {})).terminals.map((x: { id: string }) => x.id);
    expect(after).not.toContain(t.id);
    expect(after).not.toContain(run.id);
    expect((await rpcError(c.call('terminal.attach', { id: t.id }))).data.code).toBe('TERMINAL_NOT_FOUND');
    // A terminal still running is not reaped.
    const live = await c.call('terminal.create', { ...BASH, cols: 80, rows: 24 });
    await new Promise((r) => setTimeout(r, 2000));
    expect((await c.call('terminal.list', {})).terminals.find((x: { id: string }) => x.id === live.id)).toMatchObject({ status: 'running' });
    await c.call('terminal.close', { id: live.id });
    expect(processAlive(t.pid)).toBe(false);
    await Promise.all([c.close(), reader.close()]);
  });
});

describe('terminals: hostile input gets documented errors, never -32603', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
    writeFileSync(join(s.root, 'a-file'), 'x');
    mkdirSync(join(s.root, 'sub'));
    symlinkSync('loop-b', join(s.root, 'loop-a'));
    symlinkSync('loop-a', join(s.root, 'loop-b'));
    symlinkSync('/', join(s.root, 'to-root'));
  });
  afterAll(async () => {
    await s.close();
  });

  it('bad cwd, names, sizes, strings and ids', async () => {
    const c = await connect(s);
    const t = await c.call('terminal.create', { ...BASH, cols: 80, rows: 24 });
    const long = 'é'.repeat(128);
    const base = { cols: 80, rows: 24 };
    const cases: [string, string, Record<string, unknown>, string, string?][] = [
      ['cwd that is a file', 'terminal.create', { ...base, cwd: 'a-file' }, 'NOT_A_DIRECTORY', 'cwd'],
      ['cwd below a file', 'terminal.create', { ...base, cwd: 'a-file/x' }, 'FILE_NOT_FOUND', 'cwd'],
      ['cwd outside the root', 'terminal.create', { ...base, cwd: '../..' }, 'PATH_OUTSIDE_WORKSPACE', 'cwd'],
      ['cwd through a symlink out', 'terminal.create', { ...base, cwd: 'to-root/tmp' }, 'PATH_OUTSIDE_WORKSPACE', 'cwd'],
      ['cwd symlink loop', 'terminal.create', { ...base, cwd: 'loop-a' }, 'INVALID_PARAMS', 'cwd'],
      ['cwd name too long', 'terminal.create', { ...base, cwd: 'x'.repeat(300) }, 'INVALID_PARAMS', 'cwd'],
      ['cwd with a NUL', 'terminal.create', { ...base, cwd: 'sub\u0000' }, 'INVALID_PARAMS', 'cwd'],
      ['run cwd that is a file', 'terminal.run', { command: 'true', cwd: 'a-file' }, 'NOT_A_DIRECTORY', 'cwd'],
      ['empty shell', 'terminal.create', { ...base, shell: '' }, 'INVALID_PARAMS', 'shell'],
      ['shell with a NUL', 'terminal.create', { ...base, shell: '/bin/sh\u0000x' }, 'INVALID_PARAMS', 'shell'],
      ['shell that is a folder', 'terminal.create', { ...base, shell: 'sub' }, 'INVALID_PARAMS', 'shell'],
      ['arg with a NUL', 'terminal.create', { ...base, ...BASH, args: ['a\u0000b'] }, 'INVALID_PARAMS', 'args.0'],
      ['env value with a NUL', 'terminal.create', { ...base, env: { A: 'a\u0000b' } }, 'INVALID_PARAMS', 'env.A'],
      ['env name __proto__', 'terminal.create', { ...base, env: JSON.parse('{"__proto__": "x"}') }, 'INVALID_PARAMS', 'env.__proto__'],
      ['env name with =', 'terminal.create', { ...base, env: { 'A=B': 'x' } }, 'INVALID_PARAMS', 'env.A=B'],
      ['huge cols', 'terminal.create', { cols: 1e9, rows: 24 }, 'INVALID_PARAMS', 'cols'],
      ['negative rows', 'terminal.create', { cols: 80, rows: -1 }, 'INVALID_PARAMS', 'rows'],
      ['cols as a string', 'terminal.create', { cols: '80', rows: 24 }, 'INVALID_PARAMS', 'cols'],
      ['huge resize', 'terminal.resize', { id: t.id, cols: 80, rows: 1e12 }, 'INVALID_PARAMS', 'rows'],
      ['name over 255 bytes', 'terminal.create', { ...base, name: long }, 'INVALID_PARAMS', 'name'],
      ['empty name', 'terminal.rename', { id: t.id, name: '' }, 'INVALID_PARAMS', 'name'],
      ['name with a control character', 'terminal.rename', { id: t.id, name: 'a\u001b[31mred' }, 'INVALID_PARAMS', 'name'],
      ['run name with a newline', 'terminal.run', { command: 'true', name: 'a\nb' }, 'INVALID_PARAMS', 'name'],
      ['empty command', 'terminal.run', { command: '' }, 'INVALID_PARAMS', 'command'],
      ['command with a NUL', 'terminal.run', { command: 'echo a\u0000b' }, 'INVALID_PARAMS', 'command'],
      ['zero timeout', 'terminal.run', { command: 'true', timeout: 0 }, 'INVALID_PARAMS', 'timeout'],
      ['huge since', 'terminal.attach', { id: t.id, since: Number.MAX_SAFE_INTEGER }, 'INVALID_PARAMS', 'since'],
      ['fractional ack', 'terminal.ack', { id: t.id, offset: 0.5 }, 'INVALID_PARAMS', 'offset'],
      ['huge redraw', 'terminal.attach', { id: t.id, redraw: 1e9 }, 'INVALID_PARAMS', 'redraw'],
      ['empty id', 'terminal.write', { id: '', data: 'x' }, 'INVALID_PARAMS', 'id'],
      ['prototype id', 'terminal.write', { id: '__proto__', data: 'x' }, 'TERMINAL_NOT_FOUND'],
      ['prototype id (close)', 'terminal.close', { id: 'constructor' }, 'TERMINAL_NOT_FOUND'],
      ['prototype id (attach)', 'terminal.attach', { id: 'toString' }, 'TERMINAL_NOT_FOUND'],
      ['prototype id (rename)', 'terminal.rename', { id: 'hasOwnProperty', name: 'x' }, 'TERMINAL_NOT_FOUND'],
      ['ack while not attached', 'terminal.ack', { id: t.id, offset: 0 }, 'INVALID_REQUEST'],
    ];
    try {
      for (const [what, method, params, code, field] of cases) {
        const err = await rpcError(c.call(method, params));
        expect(err.data.code, what).toBe(code);
        expect(err.code, what).not.toBe(-32603);
        if (field) expect(err.data.field, what).toBe(field);
      }
      // Prototype-named display names and environment names are ordinary.
      const named = await c.call('terminal.create', { ...BASH, cols: 80, rows: 24, name: 'constructor', env: { constructor: 'c-val', toString: 't-val' } });
      await c.call('terminal.attach', { id: named.id });
      await c.call('terminal.write', { id: named.id, data: 'echo "E=$constructor/$toString"\r' });
      await c.waitFor(() => output(c, named.id).includes('E=c-val/t-val'), 5000, 'env');
      expect((await c.call('terminal.rename', { id: named.id, name: '__proto__' })).name).toBe('__proto__');
      expect((await c.call('terminal.list', {})).terminals.find((x: { id: string }) => x.id === named.id).name).toBe('__proto__');
      await c.call('terminal.close', { id: named.id });
      // A control-character command gets a one-line default name.
      const r = await c.call('terminal.run', { command: 'echo a;\n\techo b', timeout: 10_000 });
      expect((await c.call('terminal.list', {})).terminals.find((x: { id: string }) => x.id === r.id).name).toBe('run: echo a; echo b');
      await c.call('terminal.close', { id: r.id });
    } finally {
      await c.call('terminal.close', { id: t.id }).catch(() => undefined);
      await c.close();
    }
  });
});
