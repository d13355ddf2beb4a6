import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { IcpyError } from '../../core/errors.js';
import type { PathRule } from '../../core/principal.js';
import { GitignoreCache, matchRules, parseGitignore } from './gitignore.js';

export interface ContentMatch {
  path: string;
  /** 1-based line number. */
  line: number;
  /** 0-based UTF-16 offset of the first match in `text`. */
  column: number;
  /** The line (without its newline), cut at 500 characters. */
  text: string;
  /** UTF-16 [start, end) offsets of each match within `text`. */
  ranges: [number, number][];
}

export interface ContentSearchOptions {
  query: string;
  regex?: boolean;
  /** Default: smart case (case-insensitive unless the query has an upper-case letter). */
  caseSensitive?: boolean;
  wholeWord?: boolean;
  /** rg-style globs: 'src/**', '*.ts', '!*.min.js'. */
  globs?: string[];
  hidden?: boolean;
  ignored?: boolean;
  maxResults?: number;
  pageSize?: number;
  /**
   * The caller's path limits (a path-limited principal): only files they allow are searched, so
   * pages fill with allowed hits and `total` counts only those (nothing about the rest leaks).
   */
  paths?: PathRule;
}

/** What files.find takes. */
export interface NameSearchOptions {
  query: string;
  hidden?: boolean;
  ignored?: boolean;
  maxResults?: number;
  pageSize?: number;
  /** As in ContentSearchOptions: only files inside the limits are listed and ranked. */
  paths?: PathRule;
}

export interface SearchPage<T> {
  results: T[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
  /** Results found in all (≤ maxResults). */
  total: number;
  /** True when the search stopped at maxResults (more matches exist). */
  limitHit: boolean;
  engine: 'ripgrep' | 'builtin';
  elapsedMs: number;
}

export interface NameMatch {
  path: string;
  score: number;
  /** Indexes of the matched characters in `path`. */
  positions: number[];
}

const LINE_CUT = 500;
const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 32;

/** `rg` on PATH, or undefined. */
export function findRipgrep(pathEnv = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'rg');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/**
 * Content search (ripgrep when present, else a slower built-in scan of the same files) and
 * fuzzy file-name search. Results are collected once up to maxResults and served in pages from
 * a short-lived cache (5 minutes), so paging is cheap and consistent.
 */
export class FileSearch {
  private readonly pages = new Map<string, { kind: 'content' | 'names'; results: unknown[]; meta: Omit<SearchPage<unknown>, 'results' | 'nextCursor'>; pageSize: number; expires: number }>();

  constructor(
    private readonly root: string,
    private readonly ignores: GitignoreCache,
    /** Path of rg; null forces the built-in engine. */
    private readonly rgPath: string | null | undefined = findRipgrep(),
    /** Time limit of one built-in (no rg) content search. */
    private readonly builtinTimeoutMs = 30_000,
    /** Content searches running at once, server-wide (limits.maxConcurrentSearches); one more is refused. */
    private readonly maxConcurrent = Infinity,
  ) {}

  private running = 0;

  get engine(): 'ripgrep' | 'builtin' {
    return this.rgPath ? 'ripgrep' : 'builtin';
  }

  async content(opts: ContentSearchOptions, signal?: AbortSignal): Promise<SearchPage<ContentMatch>> {
    if (!opts.query) throw new IcpyError('INVALID_PARAMS', 'query: must not be empty', { field: 'query' });
    const started = performance.now();
    const max = opts.maxResults ?? 1000;
    const caseSensitive = opts.caseSensitive ?? /\p{Lu}/u.test(opts.query);
    let re: RegExp;
    try {
      const src = opts.regex ? opts.query : opts.query.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      re = new RegExp(opts.wholeWord ? `\\b(?:${src})\\b` : src, caseSensitive ? 'gu' : 'giu');
    } catch (err) {
      if (!this.rgPath) throw new IcpyError('INVALID_PARAMS', `query: invalid regular expression: ${(err as Error).message}`, { field: 'query' });
      re = /$^/g; // rg has its own syntax; it reports errors itself
    }
    // Refused at once rather than queued: a client retries, and a queue would hold every
    // waiting caller's connection (and a ripgrep or worker thread each) with no bound.
    if (this.running >= this.maxConcurrent) {
      throw new IcpyError('LIMIT_EXCEEDED', `${this.maxConcurrent} content searches are already running; retry when one has finished`, {
        limit: 'maxConcurrentSearches',
        max: this.maxConcurrent,
      });
    }
    this.running++;
    let found: { results: ContentMatch[]; limitHit: boolean };
    try {
      found = this.rgPath ? await this.rgContent(this.rgPath, opts, caseSensitive, max, signal) : await this.builtinContent(opts, re, max, signal);
    } finally {
      this.running--;
    }
    const { results, limitHit } = found;
    return this.firstPage('content', results, { total: results.length, limitHit, engine: this.engine, elapsedMs: Math.round(performance.now() - started) }, opts.pageSize ?? 200);
  }

  async names(opts: NameSearchOptions): Promise<SearchPage<NameMatch>> {
    const started = performance.now();
    const files = await this.listFiles(opts);
    const q = opts.query.toLowerCase();
    const scored: NameMatch[] = [];
    for (const f of files) {
      const m = fuzzyScore(q, f);
      if (m) scored.push({ path: f, score: m.score, positions: m.positions });
    }
    scored.sort((a, b) => b.score - a.score || a.path.length - b.path.length || (a.path < b.path ? -1 : 1));
    const max = opts.maxResults ?? 1000;
    const results = scored.slice(0, max);
    return this.firstPage('names', results, { total: results.length, limitHit: scored.length > max, engine: this.engine, elapsedMs: Math.round(performance.now() - started) }, opts.pageSize ?? 100);
  }

  /** Next page of an earlier search. */
  page(cursor: string): SearchPage<unknown> {
    const [id, offRaw] = cursor.split(':');
    const entry = this.pages.get(id ?? '');
    const offset = Number(offRaw);
    if (!entry || entry.expires < Date.now() || !Number.isInteger(offset)) {
      throw new IcpyError('INVALID_PARAMS', 'cursor: unknown or expired search cursor; search again', { field: 'cursor' });
    }
    entry.expires = Date.now() + CACHE_TTL_MS;
    const results = entry.results.slice(offset, offset + entry.pageSize);
    const next = offset + entry.pageSize;
    if (next >= entry.results.length) this.pages.delete(id!);
    return { results, ...entry.meta, ...(next < entry.results.length ? { nextCursor: `${id}:${next}` } : {}) };
  }

  private firstPage<T>(kind: 'content' | 'names', results: T[], meta: Omit<SearchPage<T>, 'results' | 'nextCursor'>, pageSize: number): SearchPage<T> {
    if (results.length <= pageSize) return { results, ...meta };
    const now = Date.now();
    for (const [k, v] of this.pages) if (v.expires < now) this.pages.delete(k);
    while (this.pages.size >= CACHE_MAX) this.pages.delete(this.pages.keys().next().value!);
    const id = randomUUID().slice(0, 12);
    this.pages.set(id, { kind, results, meta, pageSize, expires: now + CACHE_TTL_MS });
    return { results: results.slice(0, pageSize), ...meta, nextCursor: `${id}:${pageSize}` };
  }

  private rgArgs(opts: { hidden?: boolean; ignored?: boolean; globs?: string[]; paths?: PathRule }): string[] {
    // .gitignore applies whether or not the workspace is a git repository (as in files.list).
    const args: string[] = ['--no-require-git'];
    if (opts.hidden) args.push('--hidden', '--glob', '!.git', '--glob', '!.icpy');
    if (opts.ignored) args.push('--no-ignore');
    // Limit globs first: for rg a later glob wins, so the caller's '!*.min.js' still excludes.
    for (const g of limitGlobs(opts.paths, opts.globs)) args.push('--glob', g);
    for (const g of opts.globs ?? []) args.push('--glob', g);
    return args;
  }

  private rgContent(rg: string, opts: ContentSearchOptions, caseSensitive: boolean, max: number, signal?: AbortSignal): Promise<{ results: ContentMatch[]; limitHit: boolean }> {
    const args = ['--json', caseSensitive ? '--case-sensitive' : '--ignore-case', ...this.rgArgs(opts)];
    if (!opts.regex) args.push('--fixed-strings');
    if (opts.wholeWord) args.push('--word-regexp');
    args.push('--', opts.query, '.');
    return new Promise((resolve, reject) => {
      const child = spawn(rg, args, { cwd: this.root, stdio: ['ignore', 'pipe', 'pipe'] });
      const results: ContentMatch[] = [];
      let limitHit = false;
      let stderr = '';
      const onAbort = () => child.kill();
      signal?.addEventListener('abort', onAbort, { once: true });
      child.stderr.on('data', (d) => (stderr += d).length > 4096 && (stderr = stderr.slice(0, 4096)));
      const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
      lines.on('line', (l) => {
        if (limitHit || !l.startsWith('{"type":"match"')) return;
        const m = JSON.parse(l).data;
        const path: string = (m.path.text ?? Buffer.from(m.path.bytes, 'base64').toString()).replace(/^\.\//, '');
        // The exact rule (the --glob prefilter may be skipped or wider); outside hits never count.
        if (opts.paths && !opts.paths.allows(path)) return;
        const byteRanges: [number, number][] = m.submatches.map((s: { start: number; end: number }) => [s.start, s.end]);
        // A UTF-8 line comes as text (byte offsets → UTF-16 offsets); any other line as bytes,
        // shown as latin1, where one byte is one character and the offsets stay as they are.
        const full: string = (m.lines.text ?? Buffer.from(m.lines.bytes, 'base64').toString('latin1')).replace(/\r?\n$/, '');
        results.push(toMatch(path, m.line_number, full, m.lines.text !== undefined ? charRangesOf(full, byteRanges) : byteRanges));
        if (results.length >= max) {
          limitHit = true;
          child.kill();
        }
      });
      child.on('error', (err) => reject(new IcpyError('SEARCH_UNAVAILABLE', `ripgrep could not start: ${err.message}`)));
      child.on('close', (code) => {
        signal?.removeEventListener('abort', onAbort);
        if (code === 2 && !limitHit && results.length === 0 && /regex parse error|error parsing/i.test(stderr)) {
          reject(new IcpyError('INVALID_PARAMS', `query: ${stderr.trim().split('\n').slice(-3).join(' ')}`, { field: 'query' }));
          return;
        }
        resolve({ results, limitHit });
      });
    });
  }

  /**
   * The built-in engine (no rg). It runs in a worker thread with a time limit: a JavaScript
   * RegExp can backtrack for hours on a crafted pattern (`(a+)+$`), which on the main thread
   * would stall every client; here the worker is terminated and the caller gets TIMEOUT.
   */
  private async builtinContent(opts: ContentSearchOptions, re: RegExp, max: number, signal?: AbortSignal): Promise<{ results: ContentMatch[]; limitHit: boolean }> {
    const files = await this.walk(opts);
    if (signal?.aborted) return { results: [], limitHit: false };
    const worker = new Worker(MATCH_WORKER, { eval: true, workerData: { root: this.root, files, source: re.source, flags: re.flags, max } });
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        void worker.terminate();
        fn();
      };
      const timer = setTimeout(
        () =>
          settle(() =>
            reject(
              new IcpyError('TIMEOUT', `The search took longer than ${this.builtinTimeoutMs} ms and was stopped (built-in engine; install ripgrep for a fast, linear-time search)`, {
                limitMs: this.builtinTimeoutMs,
              }),
            ),
          ),
        this.builtinTimeoutMs,
      );
      const onAbort = () => settle(() => resolve({ results: [], limitHit: false }));
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.once('message', (m: { out: [string, number, string, [number, number][]][]; limitHit: boolean }) =>
        settle(() =>
          resolve({
            results: m.out.map(([f, lineNo, full, ranges]) =>
              toMatch(f, lineNo, full, ranges),
            ),
            limitHit: m.limitHit,
          }),
        ),
      );
      worker.once('error', (err) => settle(() => reject(err)));
      worker.once('exit', (code) => settle(() => reject(new Error(`search worker exited with code ${code}`))));
    });
  }

  /** Every file the search would consider (workspace-relative, '/' separators). */
  private async listFiles(opts: { hidden?: boolean; ignored?: boolean; paths?: PathRule }): Promise<string[]> {
    if (!this.rgPath) return this.walk(opts);
    const rg = this.rgPath;
    return new Promise((resolve, reject) => {
      const child = spawn(rg, ['--files', ...this.rgArgs(opts)], { cwd: this.root, stdio: ['ignore', 'pipe', 'ignore'] });
      const out: string[] = [];
      const rule = opts.paths;
      createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (l) => {
        const rel = l.replace(/^\.\//, '');
        if (!rule || rule.allows(rel)) out.push(rel);
      });
      child.on('error', (err) => reject(new IcpyError('SEARCH_UNAVAILABLE', `ripgrep could not start: ${err.message}`)));
      child.on('close', () => resolve(out));
    });
  }

  private async walk(opts: { hidden?: boolean; ignored?: boolean; globs?: string[]; paths?: PathRule }): Promise<string[]> {
    const rule = opts.paths;
    const globRules = opts.globs?.length ? parseGitignore(opts.globs.map((g) => (g.startsWith('!') ? g.slice(1) : g)).join('\n')) : [];
    const negs = opts.globs?.map((g) => g.startsWith('!')) ?? [];
    const positives = globRules.filter((_, i) => !negs[i]);
    const negatives = globRules.filter((_, i) => negs[i]);
    const out: string[] = [];
    const visit = async (dirRel: string, depth: number): Promise<void> => {
      if (depth > 64) return;
      let entries;
      try {
        entries = await readdir(join(this.root, dirRel), { withFileTypes: true });
      } catch {
        return;
      }
      const isIgnored = opts.ignored ? undefined : await this.ignores.forDir(dirRel);
      for (const e of entries) {
        if (e.name === '.git' || e.name === '.icpy') continue;
        if (!opts.hidden && e.name.startsWith('.')) continue;
        const isDir = e.isDirectory();
        if (isIgnored?.(e.name, isDir)) continue;
        const rel = dirRel ? `${dirRel}/${e.name}` : e.name;
        if (isDir) {
          if (negatives.length && matchRules(negatives, rel, true)) continue;
          // Folders that hold nothing inside the limits are not entered.
          if (rule && !rule.mayContain(rel)) continue;
          await visit(rel, depth + 1);
        } else if (e.isFile()) {
          if (rule && !rule.allows(rel)) continue;
          if (negatives.length && matchRules(negatives, rel, false)) continue;
          if (positives.length && !matchRules(positives, rel, false)) continue;
          out.push(rel);
        }
      }
    };
    await visit('', 0);
    return out;
  }
}

/**
 * rg `--glob` prefilters for path limits, so ripgrep does not read files outside them (the exact
 * rule is applied to every hit as well). Each limit glob becomes `/<glob>` and `/<glob>/**`
 * (anchored; a glob naming a folder grants what is in it). None when the caller gave a positive
 * glob of its own (rg ORs positive globs: adding ours would widen theirs) or a limit glob holds a
 * character rg reads as syntax and ours as text (`[ ] { } \ !` or a leading `#`).
 */
export function limitGlobs(rule: PathRule | undefined, userGlobs: readonly string[] | undefined): string[] {
  if (!rule) return [];
  if (userGlobs?.some((g) => !g.startsWith('!'))) return [];
  if (rule.globs.some((g) => /[[\]{}\\!]/.test(g))) return [];
  const out: string[] = [];
  for (const raw of rule.globs) {
    const g = raw.replace(/^\.\/+/, '').replace(/\/+$/, '');
    if (g === '' || g === '**') return []; // the whole workspace
    out.push(`/${g}`, `/${g}/**`);
  }
  return out;
}

/**
 * The built-in engine's matcher, run as an eval'd worker (plain CommonJS, so it needs no build
 * step of its own): reads each file, skips binaries (a NUL in the first 8 KiB), and posts
 * [path, line, text, [charStart, charEnd][]] per matching line, up to `max`.
 */
const MATCH_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { root, files, source, flags, max } = workerData;
const re = new RegExp(source, flags);
const out = [];
let limitHit = false;
outer: for (const f of files) {
  let buf;
  try { buf = readFileSync(join(root, f)); } catch { continue; }
  if (buf.subarray(0, 8192).includes(0)) continue;
  const lines = buf.toString('utf8').split('\\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    re.lastIndex = 0;
    const ranges = [];
    for (let m = re.exec(line); m; m = re.exec(line)) {
      ranges.push([m.index, m.index + m[0].length]);
      if (m[0].length === 0) re.lastIndex++;
    }
    if (!ranges.length) continue;
    out.push([f, i + 1, line.replace(/\\r$/, ''), ranges]);
    if (out.length >= max) { limitHit = true; break outer; }
  }
}
parentPort.postMessage({ out, limitHit });
`;

/** A match from UTF-16 ranges in the line `full` (the text is cut at LINE_CUT characters). */
function toMatch(path: string, line: number, full: string, ranges: [number, number][]): ContentMatch {
  const text = full.length > LINE_CUT ? full.slice(0, LINE_CUT) : full;
  const shown = ranges.filter(([s]) => s <= text.length);
  return { path, line, column: shown[0]?.[0] ?? 0, text, ranges: shown };
}

/** UTF-8 byte offsets in `full` (as ripgrep reports them) → UTF-16 offsets. */
function charRangesOf(full: string, byteRanges: [number, number][]): [number, number][] {
  const bytes = Buffer.from(full);
  if (bytes.length === full.length) return byteRanges; // ASCII: the same offsets
  const conv = (b: number) => bytes.subarray(0, b).toString('utf8').length;
  return byteRanges.map(([s, e]) => [conv(s), conv(e)]);
}

/**
 * Subsequence match of `q` (lower-case) in `path`, scored like editors' quick-open: matches at
 * the start of a segment or word, consecutive runs and matches inside the file name score
 * higher; shorter paths win ties.
 */
export function fuzzyScore(q: string, path: string): { score: number; positions: number[] } | undefined {
  if (!q) return { score: 0, positions: [] };
  const lower = path.toLowerCase();
  const baseStart = path.lastIndexOf('/') + 1;
  // Prefer matching inside the file name: try from the name first, then from the start.
  const attempt = (from: number) => {
    const positions: number[] = [];
    let j = from;
    for (let i = 0; i < q.length; i++) {
      const k = lower.indexOf(q[i]!, j);
      if (k < 0) return undefined;
      positions.push(k);
      j = k + 1;
    }
    return positions;
  };
  const positions = attempt(baseStart) ?? attempt(0);
  if (!positions) return undefined;
  let score = 0;
  for (let i = 0; i < positions.length; i++) {
    const k = positions[i]!;
    score += 1;
    const prev = k > 0 ? path[k - 1]! : '/';
    if ('/_-. '.includes(prev)) score += 6;
    else if (path[k] !== lower[k] && prev === prev.toLowerCase()) score += 4; // camelCase hump
    if (i > 0 && positions[i - 1] === k - 1) score += 4;
    if (k >= baseStart) score += 2;
  }
  const base = lower.slice(baseStart);
  if (base === q) score += 40;
  else if (base.startsWith(q)) score += 20;
  score -= path.length * 0.05;
  return { score: Math.round(score * 100) / 100, positions };
}
