import { describe, expect, it } from 'vitest';
import { Text } from '@codemirror/state';
import { encodeOutputFrame } from '../src/services/terminals/output-frame.js';
import { encodeBinaryExecOutput } from '../src/services/exec/output-frame.js';
import { decodeFrame, utf8Length } from '../web/src/panels/frames.js';
import { StreamCursor } from '../web/src/panels/stream-cursor.js';
import { offsetToPosition, positionToOffset, rangeToOffsets } from '../web/src/panels/positions.js';
import { hasLanguageServer, hoverText, toCmCompletions, toCmDiagnostics } from '../web/src/panels/lsp-convert.js';
import { describeAgentCall, describeCompletion, describeEvent, diffLineClass } from '../web/src/panels/format.js';

/** Unit tests of the web panels' pure helpers (web/src/panels/); the browser runs are in the e2e test. */

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('binary frames', () => {
  it('decodes a terminal frame made by the server encoder (offset above 2^32, UTF-8 data)', () => {
    const frame = encodeOutputFrame('binary', 't-1', 2 ** 33 + 5, 'héllo 😀') as Uint8Array;
    const f = decodeFrame(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer);
    expect(f).toMatchObject({ type: 'terminal', id: 't-1', offset: 2 ** 33 + 5 });
    expect(text(f!.data)).toBe('héllo 😀');
  });

  it('decodes an exec frame made by the server encoder, stdout and stderr', () => {
    for (const stream of ['stdout', 'stderr'] as const) {
      const frame = encodeBinaryExecOutput('run-7', { stream, offset: 42, end: 42 + 3, parts: [Buffer.from('abc')] } as any);
      const f = decodeFrame(frame);
      expect(f).toMatchObject({ type: 'exec', id: 'run-7', stream, offset: 42 });
      expect(text(f!.data)).toBe('abc');
    }
  });

  it('ignores unknown and truncated frames instead of throwing', () => {
    expect(decodeFrame(new Uint8Array([9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))).toBeUndefined();
    expect(decodeFrame(new Uint8Array([1, 200, 0, 0, 0, 0, 0, 0, 0, 0, 65]))).toBeUndefined();
    expect(decodeFrame(new Uint8Array([2, 0]))).toBeUndefined();
  });

  it('utf8Length counts UTF-8 bytes as the server offsets do', () => {
    for (const s of ['', 'abc', 'é', '€', '😀', 'a😀b€', '\ud800x']) expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'));
  });
});

describe('StreamCursor', () => {
  it('passes contiguous chunks, drops what a re-attach repeats, keeps the new tail of an overlap', () => {
    const c = new StreamCursor(10);
    expect(text(c.accept(10, bytes('abc')).data)).toBe('abc');
    expect(c.next).toBe(13);
    expect(c.accept(10, bytes('abc')).data.byteLength).toBe(0); // a replayed chunk
    const overlap = c.accept(11, bytes('bcdef'));
    expect(text(overlap.data)).toBe('def');
    expect(overlap.lost).toBe(0);
    expect(c.next).toBe(16);
  });

  it('reports a gap (scrollback trimmed while away) and moves on', () => {
    const c = new StreamCursor(0);
    const r = c.accept(100, bytes('xy'));
    expect(r.lost).toBe(100);
    expect(text(r.data)).toBe('xy');
    expect(c.next).toBe(102);
  });
});

describe('LSP positions (UTF-16, as CodeMirror offsets)', () => {
  const doc = Text.of(['const s = "😀";', 'let x = 1;', '']);

  it('maps offsets to positions and back, astral characters counting two units', () => {
    const at = doc.toString().indexOf('";');
    expect(offsetToPosition(doc, at)).toEqual({ line: 0, character: 13 });
    expect(positionToOffset(doc, { line: 0, character: 13 })).toBe(at);
    const x = doc.toString().indexOf('x');
    expect(offsetToPosition(doc, x)).toEqual({ line: 1, character: 4 });
    expect(positionToOffset(doc, { line: 1, character: 4 })).toBe(x);
  });

  it('clamps as LSP does: past the line end → its end; past the last line → document end', () => {
    expect(positionToOffset(doc, { line: 1, character: 999 })).toBe(doc.line(2).to);
    expect(positionToOffset(doc, { line: 99, character: 0 })).toBe(doc.length);
    expect(positionToOffset(doc, { line: -1, character: 0 })).toBe(0);
    expect(offsetToPosition(doc, 10_000)).toEqual({ line: 2, character: 0 });
    expect(rangeToOffsets(doc, { start: { line: 1, character: 5 }, end: { line: 1, character: 4 } })).toEqual({
      from: doc.line(2).from + 4,
      to: doc.line(2).from + 5,
    });
  });
});

describe('LSP conversions', () => {
  it('diagnostics: ranges to offsets, severities, code in the message', () => {
    const doc = Text.of(['let a = 1;', 'a = "x";']);
    const d = toCmDiagnostics(doc, [
      { range: { start: { line: 1, character: 0 }, end: { line: 1, character: 1 } }, message: 'bad', severity: 1, code: 2322, source: 'ts' },
      { range: { start: { line: 0, character: 4 }, end: { line: 0, character: 5 } }, message: 'unused', severity: 4 },
      { range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, message: 'no severity' },
    ]);
    expect(d[0]).toEqual({ from: 11, to: 12, severity: 'error', message: 'bad (2322)', source: 'ts' });
    expect(doc.sliceString(d[0]!.from, d[0]!.to)).toBe('a');
    expect(d[1]!.severity).toBe('hint');
    expect(d[2]!.severity).toBe('error');
  });

  it('completions keep the server order as boosts, map kinds, skip snippet insert texts', () => {
    const c = toCmCompletions([
      { label: 'zeta', sortText: '2', kind: 6 },
      { label: 'alpha', sortText: '1', kind: 2, detail: '(): void', insertText: 'alpha()' },
      { label: 'snip', sortText: '3', insertText: 'snip(${1})', insertTextFormat: 2 },
    ]);
    expect(c.map((x) => x.label)).toEqual(['alpha', 'zeta', 'snip']);
    expect(c[0]).toMatchObject({ type: 'method', detail: '(): void', apply: 'alpha()' });
    expect(c[0]!.boost!).toBeGreaterThan(c[1]!.boost!);
    expect(c[2]!.apply).toBeUndefined();
  });

  it('hover contents as plain text (markdown fences removed)', () => {
    expect(hoverText({ kind: 'markdown', value: '```typescript\nconst x: number\n```' })).toBe('const x: number');
    expect(hoverText(['a', { value: 'b' }])).toBe('a\n\nb');
    expect(hoverText(null)).toBe('');
  });

  it('only files a language server covers get the extensions', () => {
    expect(hasLanguageServer('src/a.ts')).toBe(true);
    expect(hasLanguageServer('x.py')).toBe(true);
    expect(hasLanguageServer('README.md')).toBe(false);
  });
});

describe('activity, history and run text', () => {
  const source = { connectionId: 'c1', kind: 'agent' as const, name: 'bot' };
  it('describes events by source and kind', () => {
    const l = describeEvent({ topic: 'fs.file.created', time: 0, source, data: { paths: ['a', 'b', 'c', 'd'] } });
    expect(l).toMatchObject({ kind: 'agent', who: 'bot', what: 'created', detail: 'a, b, c +1' });
    expect(describeEvent({ topic: 'docs.saved', time: 0, source, data: { path: 'a.ts', version: 3 } }).detail).toBe('a.ts v3');
    expect(describeEvent({ topic: 'exec.completed', time: 0, source, data: { exitCode: 1 } }).detail).toBe('exit 1');
    expect(describeAgentCall({ id: 1, time: 0, agent: 'bot', method: 'files.write', paths: ['a.ts'], outcome: 'error', code: 'FORBIDDEN' })).toBe(
      'files.write a.ts ✗ FORBIDDEN',
    );
  });

  it('classifies unified diff lines and describes run completions', () => {
    expect(['--- a/x v1', '+++ b/x current', '@@ -1 +1 @@', '+n', '-o', ' c'].map(diffLineClass)).toEqual([
      'icpy-diff-file',
      'icpy-diff-file',
      'icpy-diff-hunk',
      'icpy-diff-add',
      'icpy-diff-del',
      'icpy-diff-ctx',
    ]);
    const base = { id: 'r', signal: null, durationMs: 1500, timedOut: false, cancelled: false, truncated: false };
    expect(describeCompletion({ ...base, exitCode: 0 })).toBe('exit code 0 · 1.50 s');
    expect(describeCompletion({ ...base, exitCode: null, cancelled: true })).toMatch(/^cancelled/);
  });
});
