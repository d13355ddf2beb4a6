import type { Text } from '@codemirror/state';
import { rangeToOffsets, type LspRange } from './positions.js';

/** Pure conversions between icpy's `lsp.*` results and CodeMirror's shapes (no DOM, unit-tested). */

export interface LspDiagnostic {
  range: LspRange;
  message: string;
  severity?: number;
  code?: string | number;
  source?: string;
}

export type Severity = 'error' | 'warning' | 'info' | 'hint';

export interface CmDiagnostic {
  from: number;
  to: number;
  severity: Severity;
  message: string;
  source?: string;
}

const SEVERITIES: Record<number, Severity> = { 1: 'error', 2: 'warning', 3: 'info', 4: 'hint' };

export function toCmDiagnostics(doc: Text, diagnostics: readonly LspDiagnostic[]): CmDiagnostic[] {
  const out: CmDiagnostic[] = [];
  for (const d of diagnostics) {
    if (!d || !d.range) continue;
    const { from, to } = rangeToOffsets(doc, d.range);
    const code = d.code !== undefined && d.code !== null ? ` (${d.code})` : '';
    out.push({
      from,
      to,
      severity: SEVERITIES[d.severity ?? 1] ?? 'error',
      message: `${d.message}${code}`,
      ...(d.source ? { source: d.source } : {}),
    });
  }
  return out;
}

// LSP CompletionItemKind → CodeMirror completion `type` (its icon class).
const KINDS: Record<number, string> = {
  1: 'text', 2: 'method', 3: 'function', 4: 'function', 5: 'property', 6: 'variable', 7: 'class',
  8: 'interface', 9: 'namespace', 10: 'property', 11: 'constant', 12: 'constant', 13: 'enum',
  14: 'keyword', 15: 'text', 16: 'constant', 17: 'text', 18: 'text', 19: 'text', 20: 'enum',
  21: 'constant', 22: 'class', 23: 'text', 24: 'text', 25: 'type',
};

export interface LspCompletionItem {
  label: string;
  kind?: number;
  detail?: string;
  sortText?: string;
  insertText?: string;
  insertTextFormat?: number;
  filterText?: string;
}

export interface CmCompletion {
  label: string;
  type?: string;
  detail?: string;
  apply?: string;
  boost?: number;
}

/**
 * Items in the server's order (sortText) become a descending boost, so CodeMirror's fuzzy ranking
 * keeps the server's preference among equal matches. Snippet insert texts (format 2) are not
 * expanded: the label is inserted instead.
 */
export function toCmCompletions(items: readonly LspCompletionItem[]): CmCompletion[] {
  const sorted = [...items].sort((a, b) => (a.sortText ?? a.label).localeCompare(b.sortText ?? b.label));
  const n = sorted.length;
  return sorted.map((item, i) => {
    const c: CmCompletion = { label: item.label, boost: n > 1 ? Math.round(-99 + (198 * (n - 1 - i)) / (n - 1)) : 0 };
    if (item.kind !== undefined && KINDS[item.kind]) c.type = KINDS[item.kind];
    if (item.detail) c.detail = item.detail;
    if (item.insertText && item.insertTextFormat !== 2 && item.insertText !== item.label) c.apply = item.insertText;
    return c;
  });
}

/** `lsp.hover` contents (markdown or plain, a string, a MarkupContent or an array) as plain text. */
export function hoverText(contents: unknown): string {
  if (contents == null) return '';
  if (typeof contents === 'string') return stripFences(contents);
  if (Array.isArray(contents)) return contents.map(hoverText).filter(Boolean).join('\n\n');
  if (typeof contents === 'object') {
    const v = (contents as { value?: unknown }).value;
    if (typeof v === 'string') return stripFences(v);
  }
  return '';
}

function stripFences(s: string): string {
  return s.replace(/^```[\w-]*\n?/gm, '').replace(/\n?```$/gm, '').trim();
}

/** Languages icpy's language servers cover (docs/protocol/lsp.md), by extension. */
const LSP_EXT = /\.(ts|tsx|mts|cts|js|jsx|mjs|cjs|py|pyi|sh|bash)$/i;

export function hasLanguageServer(path: string): boolean {
  return LSP_EXT.test(path);
}
