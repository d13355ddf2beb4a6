import { normalizeRel, pathAllowed, type Principal } from '../../core/principal.js';

/** LSP position: 0-based line, character in UTF-16 code units. */
export interface Pos {
  line: number;
  character: number;
}
export interface Selection {
  anchor: Pos;
  head: Pos;
}

/** A presence entry as the docs service lists it (the port hands these over). */
export interface PresenceView {
  id: string;
  connectionId: string;
  name: string;
  kind: 'browser' | 'cli' | 'agent';
  color: string;
  via: 'yjs' | 'rpc';
  activeFile?: string;
  cursor?: Pos;
  selection?: Selection;
  updatedAt: number;
}

/** The workspace state's editors and cursors (positions there are 1-based line/column, as Monaco counts). */
export interface WorkspaceView {
  editors: { open: { path: string; openedAt: number }[]; active: string | null; updatedAt: number };
  cursors: { path: string; line: number; column: number; selections: { start: { line: number; column: number }; end: { line: number; column: number } }[]; client: { kind: string; name: string }; updatedAt: number }[];
}

export interface DiagnosticView {
  range: { start: Pos; end: Pos };
  message: string;
  severity?: number;
  code?: string | number;
  source?: string;
}

export interface TerminalView {
  id: string;
  name: string;
  /** Workspace-relative ('' = the root), or absolute when outside the root; left out for a path-limited caller when outside its limits. */
  cwd?: string;
  status: 'running' | 'exited';
  exitCode: number | null;
  createdAt: number;
}

/** What agents.context reads; each is a function the app wires to the owning service. */
export interface ContextPorts {
  workspace(): Promise<WorkspaceView> | WorkspaceView;
  presence(): PresenceView[];
  /** Every file's last published diagnostics (absent: no language service). */
  diagnostics?(): { path: string; diagnostics: DiagnosticView[] }[];
  terminals(): Promise<TerminalView[]> | TerminalView[];
}

export interface HumanFocus {
  /** How it was found: `presence` (the most recently active browser, then CLI), `workspace` (the shared editors' active file and its last cursor), or `none`. */
  from: 'presence' | 'workspace' | 'none';
  name?: string;
  kind?: 'browser' | 'cli';
  activeFile?: string;
  cursor?: Pos;
  selection?: Selection;
  updatedAt?: number;
}

export interface HumanView {
  name: string;
  kind: 'browser' | 'cli';
  color: string;
  /** Files they have open (a live document room each, or their RPC presence's file), most recent first. */
  files: string[];
  activeFile?: string;
  cursor?: Pos;
  selection?: Selection;
  updatedAt: number;
}

export interface FileDiagnostics {
  path: string;
  /** Whether the human has it open (listed first). */
  open: boolean;
  /** Errors, warnings, information, hints in this file (all of them, also those not listed). */
  counts: { error: number; warning: number; information: number; hint: number };
  diagnostics: DiagnosticView[];
}

export interface AgentContext {
  time: number;
  human: HumanFocus;
  editors: { open: string[]; active: string | null };
  humans: HumanView[];
  diagnostics: { files: FileDiagnostics[]; total: number; truncated: boolean };
  terminals: TerminalView[];
}

export const DEFAULT_CONTEXT_DIAGNOSTICS = 50;
export const MAX_CONTEXT_DIAGNOSTICS = 500;
/** Files listed in `diagnostics` at most, and humans at most. */
export const MAX_CONTEXT_FILES = 50;
export const MAX_CONTEXT_HUMANS = 32;
const MAX_MESSAGE = 1000;

/**
 * What the human is looking at. "The human" is the most recently active human presence (a browser
 * editor's awareness, or presence.update; a browser before a CLI), so an agent starts where the
 * person typing is; with no such presence, the shared workspace state: its active editor and the
 * newest cursor in it.
 */
export async function buildContext(ports: ContextPorts, opts: { maxDiagnostics: number }): Promise<AgentContext> {
  const [ws, presence] = [await ports.workspace(), ports.presence()];
  const people = presence.filter((e): e is PresenceView & { kind: 'browser' | 'cli' } => e.kind !== 'agent');
  const humans = groupHumans(people);
  const human = focusOf(people, ws);
  const open = ws.editors.open.map((e) => e.path);
  const openSet = new Set<string>([...open, ...humans.flatMap((h) => h.files)]);
  if (human.activeFile) openSet.add(human.activeFile);
  return {
    time: Date.now(),
    human,
    editors: { open, active: ws.editors.active },
    humans,
    diagnostics: pickDiagnostics(ports.diagnostics?.() ?? [], openSet, human.activeFile, opts.maxDiagnostics),
    terminals: await ports.terminals(),
  };
}

function focusOf(people: (PresenceView & { kind: 'browser' | 'cli' })[], ws: WorkspaceView): HumanFocus {
  const rank = (e: PresenceView) => (e.kind === 'browser' ? 1 : 0);
  const best = people
    .filter((e) => e.activeFile !== undefined)
    .sort((a, b) => rank(b) - rank(a) || b.updatedAt - a.updatedAt)[0];
  if (best) {
    const f: HumanFocus = { from: 'presence', name: best.name, kind: best.kind, activeFile: best.activeFile!, updatedAt: best.updatedAt };
    if (best.cursor) f.cursor = best.cursor;
    if (best.selection) f.selection = best.selection;
    return f;
  }
  const active = ws.editors.active;
  if (active === null) return { from: 'none' };
  const f: HumanFocus = { from: 'workspace', activeFile: active, updatedAt: ws.editors.updatedAt };
  const cur = ws.cursors
    .filter((c) => c.path === active && c.client.kind !== 'agent')
    .sort((a, b) => b.updatedAt - a.updatedAt)[0];
  if (cur) {
    f.cursor = { line: Math.max(0, cur.line - 1), character: Math.max(0, cur.column - 1) };
    f.name = cur.client.name;
    if (cur.client.kind === 'browser' || cur.client.kind === 'cli') f.kind = cur.client.kind;
    const s = cur.selections[0];
    if (s && (s.start.line !== s.end.line || s.start.column !== s.end.column)) {
      f.selection = { anchor: { line: s.start.line - 1, character: s.start.column - 1 }, head: { line: s.end.line - 1, character: s.end.column - 1 } };
    }
    f.updatedAt = Math.max(f.updatedAt ?? 0, cur.updatedAt);
  }
  return f;
}

/** One view per person (name and kind): a browser has one Yjs room per open file. */
function groupHumans(people: (PresenceView & { kind: 'browser' | 'cli' })[]): HumanView[] {
  const by = new Map<string, (PresenceView & { kind: 'browser' | 'cli' })[]>();
  for (const e of people) {
    const key = `${e.kind}\0${e.name}`;
    const list = by.get(key);
    if (list) list.push(e);
    else by.set(key, [e]);
  }
  const out: HumanView[] = [];
  for (const list of by.values()) {
    list.sort((a, b) => b.updatedAt - a.updatedAt);
    const top = list[0]!;
    const h: HumanView = {
      name: top.name,
      kind: top.kind,
      color: top.color,
      files: [...new Set(list.flatMap((e) => (e.activeFile === undefined ? [] : [e.activeFile])))],
      updatedAt: top.updatedAt,
    };
    if (top.activeFile !== undefined) h.activeFile = top.activeFile;
    if (top.cursor) h.cursor = top.cursor;
    if (top.selection) h.selection = top.selection;
    out.push(h);
  }
  return out.sort((a, b) => b.updatedAt - a.updatedAt).slice(0, MAX_CONTEXT_HUMANS);
}

/** Bounded: the active file first, then open files, then the rest; errors before warnings within each file. */
function pickDiagnostics(all: { path: string; diagnostics: DiagnosticView[] }[], open: Set<string>, active: string | undefined, max: number): AgentContext['diagnostics'] {
  const files = all.filter((f) => f.diagnostics.length > 0);
  const order = (p: string) => (p === active ? 0 : open.has(p) ? 1 : 2);
  files.sort((a, b) => order(a.path) - order(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  let left = max;
  let total = 0;
  const out: FileDiagnostics[] = [];
  for (const f of files) {
    total += f.diagnostics.length;
    if (left <= 0 || out.length >= MAX_CONTEXT_FILES) continue;
    const counts = { error: 0, warning: 0, information: 0, hint: 0 };
    for (const d of f.diagnostics) counts[(['error', 'warning', 'information', 'hint'] as const)[(d.severity ?? 1) - 1] ?? 'error']++;
    const sorted = [...f.diagnostics].sort((a, b) => (a.severity ?? 1) - (b.severity ?? 1) || a.range.start.line - b.range.start.line);
    const take = sorted.slice(0, left).map(clipDiagnostic);
    left -= take.length;
    out.push({ path: f.path, open: open.has(f.path), counts, diagnostics: take });
  }
  const listed = out.reduce((n, f) => n + f.diagnostics.length, 0);
  return { files: out, total, truncated: listed < total };
}

function clipDiagnostic(d: DiagnosticView): DiagnosticView {
  const out: DiagnosticView = { range: d.range, message: d.message.length > MAX_MESSAGE ? d.message.slice(0, MAX_MESSAGE) + '…' : d.message };
  if (d.severity !== undefined) out.severity = d.severity;
  if (d.code !== undefined) out.code = d.code;
  if (d.source !== undefined) out.source = d.source;
  return out;
}

/** What a path-limited principal may see: every path outside its limits is taken out (a focus outside them shows as none). */
export function contextVisibleTo(c: AgentContext, p: Principal): AgentContext {
  if (!p.paths) return c;
  const ok = (path: string | null | undefined) => {
    if (path === null || path === undefined) return false;
    const rel = normalizeRel(path);
    return rel !== undefined && pathAllowed(p, rel);
  };
  const human: HumanFocus = ok(c.human.activeFile) ? c.human : { from: c.human.from === 'none' ? 'none' : c.human.from };
  if (human !== c.human && c.human.name !== undefined) human.name = c.human.name;
  const diagFiles = c.diagnostics.files.filter((f) => ok(f.path));
  return {
    time: c.time,
    human,
    editors: { open: c.editors.open.filter(ok), active: ok(c.editors.active) ? c.editors.active : null },
    humans: c.humans.map((h) => {
      const v: HumanView = { name: h.name, kind: h.kind, color: h.color, files: h.files.filter(ok), updatedAt: h.updatedAt };
      if (ok(h.activeFile)) {
        v.activeFile = h.activeFile!;
        if (h.cursor) v.cursor = h.cursor;
        if (h.selection) v.selection = h.selection;
      }
      return v;
    }),
    diagnostics: {
      files: diagFiles,
      total: diagFiles.reduce((n, f) => n + f.counts.error + f.counts.warning + f.counts.information + f.counts.hint, 0),
      truncated: c.diagnostics.truncated && diagFiles.length > 0,
    },
    terminals: c.terminals.map((t) => {
      if (ok(t.cwd)) return t;
      const { cwd: _hidden, ...rest } = t;
      return rest;
    }),
  };
}
