import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IcpyError } from '../../core/errors.js';
import { SANDBOX_INIT, bubblewrapSandbox, findBubblewrap, requireBubblewrap, sandboxCommand, sandboxEnv, sandboxHidePaths, type SandboxSpec } from './sandbox.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'icpy-sbx-unit-')));
const root = join(base, 'ws');
mkdirSync(join(root, '.icpy'), { recursive: true });
mkdirSync(join(root, 'sub'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function spec(over: Partial<SandboxSpec> = {}): SandboxSpec {
  return { root, cwd: root, command: ['/bin/sh', '-c', 'true'], env: { PATH: '/usr/bin:/bin' }, hide: [], ...over };
}

/** The operand(s) following each occurrence of `flag`. */
function after(args: string[], flag: string, n = 1): string[][] {
  const out: string[][] = [];
  args.forEach((a, i) => {
    if (a === flag && args.indexOf('--') > i) out.push(args.slice(i + 1, i + 1 + n));
  });
  return out;
}

describe('findBubblewrap / requireBubblewrap', () => {
  it('finds nothing on a search path without bwrap, and a sandboxed run is then refused with SANDBOX_UNAVAILABLE', () => {
    const empty = join(base, 'no-bwrap');
    mkdirSync(empty);
    expect(findBubblewrap({ searchPath: empty })).toBeUndefined();
    let err: unknown;
    try {
      requireBubblewrap({ searchPath: empty });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IcpyError);
    expect((err as IcpyError).code).toBe('SANDBOX_UNAVAILABLE');
    expect((err as IcpyError).rpcCode).toBe(-32051);
    expect((err as IcpyError).httpStatus).toBe(503);
    expect((err as IcpyError).message).toContain('apt-get install -y bubblewrap');
    expect((err as IcpyError).data).toMatchObject({ install: 'apt-get install -y bubblewrap' });
  });

  it('skips relative and non-executable entries', () => {
    const dir = join(base, 'fake-bin');
    mkdirSync(dir);
    writeFileSync(join(dir, 'bwrap'), '#!/bin/sh\n', { mode: 0o644 });
    expect(findBubblewrap({ searchPath: `relative/dir:${dir}` })).toBeUndefined();
  });

  it('finds the machine bwrap on /usr/bin', () => {
    expect(findBubblewrap({ searchPath: '/usr/bin' })).toBe('/usr/bin/bwrap');
  });

  it('takes an explicit executable instead of a search', () => {
    expect(findBubblewrap({ path: '/usr/bin/bwrap' })).toBe('/usr/bin/bwrap');
    expect(findBubblewrap({ path: join(base, 'nowhere', 'bwrap') })).toBeUndefined();
    expect(bubblewrapSandbox({ path: join(base, 'nowhere', 'bwrap') }).available()).toBe(false);
    expect(() => bubblewrapSandbox({ path: join(base, 'nowhere', 'bwrap') }).command(spec())).toThrow(expect.objectContaining({ code: 'SANDBOX_UNAVAILABLE' }));
    expect(bubblewrapSandbox({ path: '/usr/bin/bwrap' }).command(spec()).file).toBe('/usr/bin/bwrap');
  });
});

describe('sandboxEnv', () => {
  it("drops icpy's own variables (the token among them) and pins TMPDIR to the private /tmp", () => {
    const env = sandboxEnv({ PATH: '/bin', ICPY_TOKEN: 't', icpy_token: 't', ICPY_RUNTIME_DIR: '/x', TMPDIR: '/var/x', MY_VAR: 'ok', ICPY_EXEC_ID: 'x1' });
    expect(env).toEqual({ PATH: '/bin', MY_VAR: 'ok', ICPY_EXEC_ID: 'x1', TMPDIR: '/tmp' });
  });
});

describe('sandboxCommand', () => {
  it('isolates network, pids, ipc and session, drops capabilities, clears the env, and runs the command after --', () => {
    const { file, args, env } = sandboxCommand(spec({ env: { PATH: '/bin', ICPY_TOKEN: 'secret' } }), '/usr/bin/bwrap');
    expect(file).toBe('/usr/bin/bwrap');
    for (const f of ['--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--new-session', '--clearenv']) expect(args).toContain(f);
    expect(after(args, '--cap-drop')).toEqual([['ALL']]);
    expect(args.slice(0, 9)).toEqual(['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp']);
    expect(after(args, '--bind', 2)).toEqual([[root, root]]);
    expect(args.slice(args.indexOf('--') + 1)).toEqual(['/bin/sh', '-c', SANDBOX_INIT, 'icpy-sandbox-init', '/bin/sh', '-c', 'true']);
    expect(args.join('\n')).not.toContain('secret');
    expect(env).toEqual({ PATH: '/bin', TMPDIR: '/tmp' });
    expect(after(args, '--chdir')).toEqual([[root]]);
  });

  it('refuses a cwd outside the workspace (also through a symlink)', () => {
    expect(() => sandboxCommand(spec({ cwd: base }), '/usr/bin/bwrap')).toThrow(expect.objectContaining({ code: 'PATH_OUTSIDE_WORKSPACE' }));
    symlinkSync(base, join(root, 'up'));
    expect(() => sandboxCommand(spec({ cwd: join(root, 'up') }), '/usr/bin/bwrap')).toThrow(expect.objectContaining({ code: 'PATH_OUTSIDE_WORKSPACE' }));
    expect(after(sandboxCommand(spec({ cwd: 'sub' }), '/usr/bin/bwrap').args, '--chdir')).toEqual([[join(root, 'sub')]]);
  });

  it('masks visible hide paths (folder: read-only empty tmpfs, file: /dev/null), skips nested and missing ones', () => {
    writeFileSync(join(root, 'token.txt'), 'x');
    const hide = [join(root, '.icpy'), join(root, '.icpy', 'inner'), join(root, 'token.txt'), join(root, 'missing')];
    const { args } = sandboxCommand(spec({ hide }), '/usr/bin/bwrap');
    expect(after(args, '--tmpfs')).toEqual([['/tmp'], [join(root, '.icpy')]]);
    expect(after(args, '--remount-ro')).toEqual([[join(root, '.icpy')]]);
    expect(after(args, '--ro-bind', 2)).toContainEqual(['/dev/null', join(root, 'token.txt')]);
    // masks come after the workspace bind, or the bind would uncover them
    expect(args.indexOf(join(root, '.icpy'))).toBeGreaterThan(args.indexOf('--bind'));
  });

  it('masks the real target of a symlinked hide path', () => {
    const real = join(root, 'real-rt');
    mkdirSync(real);
    symlinkSync(real, join(root, 'rt-link'));
    const { args } = sandboxCommand(spec({ hide: [join(root, 'rt-link')] }), '/usr/bin/bwrap');
    expect(after(args, '--tmpfs')).toContainEqual([real]);
  });

  it('still masks a hide path when the workspace is /tmp itself (the bind uncovers the host /tmp)', () => {
    const { args } = sandboxCommand(spec({ root: '/tmp', cwd: '/tmp', hide: [base] }), '/usr/bin/bwrap');
    expect(after(args, '--bind', 2)).toEqual([['/tmp', '/tmp']]);
    expect(after(args, '--tmpfs')).toEqual([['/tmp'], [base]]);
  });

  it('refuses a workspace at / (it would make everything writable)', () => {
    expect(() => sandboxCommand(spec({ root: '/', cwd: '/' }), '/usr/bin/bwrap')).toThrow(expect.objectContaining({ code: 'SANDBOX_UNAVAILABLE' }));
  });

  it('refuses to hide a folder that holds the workspace rather than leaving it visible', () => {
    expect(() => sandboxCommand(spec({ hide: [root] }), '/usr/bin/bwrap')).toThrow(expect.objectContaining({ code: 'SANDBOX_UNAVAILABLE' }));
  });

  it('binds read-only a command path that only the private /tmp would hide', () => {
    const codeDir = join(base, 'code');
    mkdirSync(codeDir);
    writeFileSync(join(codeDir, 'main.py'), 'print(1)\n');
    const { args } = sandboxCommand(spec({ command: ['/usr/bin/python3', join(codeDir, 'main.py')] }), '/usr/bin/bwrap');
    expect(after(args, '--ro-bind', 2)).toContainEqual([join(codeDir, 'main.py'), join(codeDir, 'main.py')]);
    const ro = sandboxCommand(spec({ extraReadOnly: [codeDir, join(root, 'sub'), '/usr/lib'] }), '/usr/bin/bwrap').args;
    // only what the private /tmp hides: a folder in the workspace stays writable, /usr/lib is read-only already
    expect(after(ro, '--ro-bind', 2)).toEqual([['/', '/'], [codeDir, codeDir]]);
  });

  it('creates a private HOME under /tmp', () => {
    const { args } = sandboxCommand(spec({ env: { HOME: '/tmp/icpy-home' } }), '/usr/bin/bwrap');
    expect(after(args, '--dir')).toEqual([['/tmp/icpy-home']]);
  });
});

describe('sandboxHidePaths', () => {
  it('lists .icpy/, the runtime folder and XDG_RUNTIME_DIR', () => {
    expect(sandboxHidePaths({ root: '/w', runtimeDir: '/run/user/0/icpy', env: { XDG_RUNTIME_DIR: '/run/user/0' } })).toEqual(['/w/.icpy', '/run/user/0/icpy', '/run/user/0']);
  });
});
