import { describe, expect, it } from 'vitest';
import { compilePathRule, ownerPrincipal, READ_ONLY_SCOPES, type Principal } from '../../core/principal.js';
import { activityVisibleTo, type ActivityEntry } from './activity.js';
import { buildContext, contextVisibleTo, type ContextPorts, type DiagnosticView } from './context.js';

const limited: Principal = { id: 'agent:k1', kind: 'agent', name: 'src-bot', scopes: READ_ONLY_SCOPES, paths: compilePathRule(['src/**']) };
const diag = (line: number, severity: number, message = 'm'): DiagnosticView => ({ range: { start: { line, character: 0 }, end: { line, character: 1 } }, message, severity });

const ports = (over: Partial<ContextPorts> = {}): ContextPorts => ({
  workspace: () => ({
    editors: { open: [{ path: 'src/a.ts', openedAt: 1 }, { path: 'secret/key.ts', openedAt: 2 }], active: 'secret/key.ts', updatedAt: 5 },
    cursors: [],
  }),
  presence: () => [
    { id: 'p1', connectionId: 'c1', name: 'Ada', kind: 'browser', color: '#111111', via: 'yjs', activeFile: 'secret/key.ts', cursor: { line: 3, character: 1 }, updatedAt: 20 },
    { id: 'p2', connectionId: 'c2', name: 'Ada', kind: 'browser', color: '#111111', via: 'yjs', activeFile: 'src/a.ts', updatedAt: 10 },
    { id: 'p3', connectionId: 'c3', name: 'bot', kind: 'agent', color: '#222222', via: 'rpc', activeFile: 'src/a.ts', updatedAt: 30 },
  ],
  diagnostics: () => [
    { path: 'lib/z.ts', diagnostics: [diag(0, 1)] },
    { path: 'secret/key.ts', diagnostics: [diag(5, 2), diag(1, 1)] },
    { path: 'src/a.ts', diagnostics: [diag(2, 1, 'x'.repeat(5000))] },
  ],
  terminals: () => [
    { id: 't1', name: 'root', cwd: '', status: 'running', exitCode: null, createdAt: 1 },
    { id: 't2', name: 'src', cwd: 'src', status: 'exited', exitCode: 0, createdAt: 2 },
  ],
  ...over,
});

describe('agents.context', () => {
  it('the human is the most recently active browser presence; agents are not humans; one view per person', async () => {
    const c = await buildContext(ports(), { maxDiagnostics: 50 });
    expect(c.human).toMatchObject({ from: 'presence', name: 'Ada', activeFile: 'secret/key.ts', cursor: { line: 3, character: 1 } });
    expect(c.humans).toEqual([{ name: 'Ada', kind: 'browser', color: '#111111', files: ['secret/key.ts', 'src/a.ts'], activeFile: 'secret/key.ts', cursor: { line: 3, character: 1 }, updatedAt: 20 }]);
  });

  it('diagnostics: the active file first, then open files, errors first within a file, bounded, long messages clipped', async () => {
    const c = await buildContext(ports(), { maxDiagnostics: 3 });
    expect(c.diagnostics.files.map((f) => f.path)).toEqual(['secret/key.ts', 'src/a.ts', 'lib/z.ts'].slice(0, 2));
    expect(c.diagnostics.files[0]!.diagnostics.map((d) => d.severity)).toEqual([1, 2]);
    expect(c.diagnostics.files[0]!.counts).toEqual({ error: 1, warning: 1, information: 0, hint: 0 });
    expect(c.diagnostics.files[1]!.diagnostics[0]!.message.length).toBeLessThanOrEqual(1001);
    expect(c.diagnostics).toMatchObject({ total: 4, truncated: true });
  });

  it('with no human presence: the workspace state, its cursor converted from 1-based to LSP positions', async () => {
    const c = await buildContext(
      ports({
        presence: () => [],
        workspace: () => ({
          editors: { open: [{ path: 'src/a.ts', openedAt: 1 }], active: 'src/a.ts', updatedAt: 5 },
          cursors: [{ path: 'src/a.ts', line: 2, column: 3, selections: [{ start: { line: 2, column: 1 }, end: { line: 2, column: 3 } }], client: { kind: 'browser', name: 'tab' }, updatedAt: 9 }],
        }),
      }),
      { maxDiagnostics: 50 },
    );
    expect(c.human).toEqual({ from: 'workspace', activeFile: 'src/a.ts', name: 'tab', kind: 'browser', cursor: { line: 1, character: 2 }, selection: { anchor: { line: 1, character: 0 }, head: { line: 1, character: 2 } }, updatedAt: 9 });
  });

  it('a path-limited principal sees nothing outside its paths (focus, editors, files, diagnostics, terminal cwd)', async () => {
    const c = contextVisibleTo(await buildContext(ports(), { maxDiagnostics: 50 }), limited);
    expect(c.human).toEqual({ from: 'presence', name: 'Ada' });
    expect(c.editors).toEqual({ open: ['src/a.ts'], active: null });
    expect(c.humans[0]).toEqual({ name: 'Ada', kind: 'browser', color: '#111111', files: ['src/a.ts'], updatedAt: 20 });
    expect(c.diagnostics.files.map((f) => f.path)).toEqual(['src/a.ts']);
    expect(c.diagnostics.total).toBe(1);
    expect(c.terminals).toEqual([
      { id: 't1', name: 'root', status: 'running', exitCode: null, createdAt: 1 },
      { id: 't2', name: 'src', cwd: 'src', status: 'exited', exitCode: 0, createdAt: 2 },
    ]);
    expect(JSON.stringify(c)).not.toContain('secret');
    // The owner sees everything.
    expect(contextVisibleTo(await buildContext(ports(), { maxDiagnostics: 50 }), ownerPrincipal()).human.activeFile).toBe('secret/key.ts');
  });
});

describe('agents.activity visibility', () => {
  const entry = (over: Partial<ActivityEntry>): ActivityEntry => ({ id: 1, time: 1, agent: 'a', principalId: 'agent:other', connectionId: 'c', transport: 'ws', method: 'files.read', outcome: 'ok', ms: 1, ...over });
  it('a path-limited principal sees entries inside its paths, and its own path-free ones only', () => {
    expect(activityVisibleTo(entry({ paths: ['src/a.ts'] }), limited)).toBe(true);
    expect(activityVisibleTo(entry({ paths: ['src/a.ts', 'secret/k'] }), limited)).toBe(false);
    expect(activityVisibleTo(entry({ paths: ['../etc/passwd'] }), limited)).toBe(false);
    expect(activityVisibleTo(entry({ command: 'cat secret/k' }), limited)).toBe(false);
    expect(activityVisibleTo(entry({ command: 'ls', principalId: 'agent:k1' }), limited)).toBe(true);
    expect(activityVisibleTo(entry({ paths: ['secret/k'] }), ownerPrincipal())).toBe(true);
  });
});
