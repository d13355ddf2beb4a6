import { describe, expect, it } from 'vitest';
import { formatDiagnostic, severityName, symbolKindName } from './lsp.js';

describe('icpy diagnostics / symbols formatting', () => {
  const at = (line: number, character: number) => ({ start: { line, character }, end: { line, character: character + 1 } });

  it('one compiler-style line, 1-based, source and code in brackets, multi-line messages joined', () => {
    expect(formatDiagnostic('src/a.ts', { range: at(1, 13), severity: 1, code: 2322, source: 'typescript', message: "Type 'string' is not assignable to type 'number'." })).toBe(
      "src/a.ts:2:14 error Type 'string' is not assignable to type 'number'. [typescript 2322]",
    );
    expect(formatDiagnostic('x.py', { range: at(0, 0), severity: 2, source: 'Pyright', message: 'Argument missing\n  for "b"\r\n' })).toBe('x.py:1:1 warning Argument missing for "b" [Pyright]');
    expect(formatDiagnostic('x.sh', { range: at(4, 2), message: 'no source' })).toBe('x.sh:5:3 error no source');
  });

  it('severity and symbol kind names; unknown values never throw', () => {
    expect([1, 2, 3, 4, undefined, 9].map(severityName)).toEqual(['error', 'warning', 'info', 'hint', 'error', 'error']);
    expect([5, 12, 13, 99, 'module'].map(symbolKindName)).toEqual(['class', 'function', 'variable', 'kind99', 'module']);
  });
});
