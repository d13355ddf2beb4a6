import { describe, expect, it } from 'vitest';
import { incrementalChanges } from './document-sync.js';
import type { TextDeltaOp } from './lsp-docs.js';

/** What a language server does with one change: LSP positions (\n, \r\n, \r end a line; UTF-16). */
function applyLsp(text: string, change: { range: { start: { line: number; character: number }; end: { line: number; character: number } }; text: string }): string {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) starts.push(i + 1);
    else if (c === 13) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    }
  }
  const off = (p: { line: number; character: number }) => starts[p.line]! + p.character;
  return text.slice(0, off(change.range.start)) + change.text + text.slice(off(change.range.end));
}

function prng(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
}

describe('incrementalChanges', () => {
  it('a server applying the changes in order ends with the text the delta made (random deltas, CRLF, surrogates)', () => {
    const rnd = prng(7);
    const alphabet = ['a', 'b', '\n', '\r\n', '😀', 'é', ' '];
    const word = () => Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
    for (let round = 0; round < 500; round++) {
      let text = Array.from({ length: Math.floor(rnd() * 8) }, word).join('');
      const delta: TextDeltaOp[] = [];
      let expected = '';
      let i = 0;
      while (i < text.length || rnd() < 0.3) {
        const r = rnd();
        const left = text.length - i;
        if (r < 0.4 && left > 0) {
          const n = 1 + Math.floor(rnd() * left);
          delta.push({ retain: n });
          expected += text.slice(i, i + n);
          i += n;
        } else if (r < 0.7 && left > 0) {
          const n = 1 + Math.floor(rnd() * Math.min(left, 3));
          delta.push({ delete: n });
          i += n;
        } else {
          const s = word();
          delta.push({ insert: s });
          expected += s;
          if (left === 0 && rnd() < 0.5) break;
        }
      }
      expected += text.slice(i);
      const { text: mirrored, changes } = incrementalChanges(text, delta);
      expect(mirrored).toBe(expected);
      for (const c of changes) text = applyLsp(text, c);
      expect(text).toBe(expected);
    }
  });
});
