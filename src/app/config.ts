import { isAbsolute, resolve } from 'node:path';
import { generateToken } from '../core/security.js';

export interface IcpyConfig {
  /** Workspace root (absolute). */
  root: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  token: string;
  /** True when the token was generated (not given). */
  tokenGenerated: boolean;
  /** Browser origins allowed besides same-origin ('*' = any). */
  allowedOrigins: string[];
  /** Host names accepted besides loopback names when bound to loopback. */
  allowedHosts: string[];
  /** Largest JSON-RPC message accepted (WebSocket frame or HTTP body). Default 16 MiB. */
  maxMessageBytes: number;
  /** WebSocket ping period; a dead peer is dropped within 2× this. Default 15 s. */
  heartbeatMs: number;
  historyEvents: number;
  historyBytes: number;
  /** Events a subscription may queue while its connection is not reading. */
  subscriptionQueue: number;
  /** Unsent bytes on one connection above which event delivery pauses. */
  highWaterBytes: number;
  sseKeepaliveMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Where runtime files (URL, token, root, pid) are written; see runtime-file.ts. */
  runtimeDir?: string;
  /** Check every method result against its schema (tests). */
  checkResults: boolean;
  /** Terminal scrollback kept per terminal, in bytes. Default 1 MiB. */
  terminalScrollbackBytes: number;
  /** Close a terminal nobody has been attached to for this long (ms); 0 = never (default). */
  terminalIdleTimeoutMs: number;
  /** A terminal client more than this many bytes behind (unsent on its socket, or unacknowledged) pauses the PTY. Default 1 MiB. */
  terminalHighWaterBytes: number;
  /** A terminal client that stays behind this long (ms) is detached so the PTY can resume. Default 10 s. */
  terminalStallTimeoutMs: number;
  /**
   * The token grants only the `read` scope: every write, execute or admin method (and REST PUT /
   * DELETE) answers FORBIDDEN. `icpy serve --read-only`, env ICPY_READ_ONLY=1. Default false.
   */
  readOnly: boolean;
  /** Content search engine: `auto` (ripgrep when found, else built-in) or `builtin`. Env ICPY_SEARCH_ENGINE. */
  searchEngine: 'auto' | 'builtin';
  /** Limits on what clients may ask for (issue 9); each breach is a documented error. */
  limits: IcpyLimits;
  /** Live documents (issue 10): saving and version history. */
  docs: IcpyDocsConfig;
  /** Code execution (issue 11). */
  exec: IcpyExecConfig;
  /** Language servers (issue 12). */
  lsp: IcpyLspConfig;
  /** Agents (issue 13): credentials, MCP, workflows and their model. */
  agents: IcpyAgentsConfig;
}

/**
 * Agents: MCP sessions, workflow runs and the model they call. Env `ICPY_AGENTS_<SNAKE>`; the
 * model endpoint also falls back to the OpenAI SDK's own `OPENAI_BASE_URL` / `OPENAI_API_KEY`.
 */
export interface IcpyAgentsConfig {
  /** OpenAI-compatible base URL (`http://127.0.0.1:11434/v1`). '' = none configured: agents.run answers MODEL_UNAVAILABLE. Env ICPY_AGENTS_BASE_URL, else OPENAI_BASE_URL. */
  baseUrl: string;
  /** API key sent to the model endpoint. Env ICPY_AGENTS_API_KEY, else OPENAI_API_KEY. Never logged. */
  apiKey: string;
  /** Model name workflows use unless they name one. Env ICPY_AGENTS_MODEL. Default gpt-4o-mini. */
  model: string;
  /** Workflow runs at once; more are LIMIT_EXCEEDED. Default 4. */
  maxConcurrentRuns: number;
  /** Model turns one run may take before it fails. Default 20. */
  maxTurns: number;
  /** Wall-clock bound of one run (ms). Default 10 min. */
  runTimeoutMs: number;
  /** Agent activity rows kept in SQLite (oldest dropped first). Default 10,000. */
  activityRows: number;
  /** Open MCP sessions on /mcp; one more is LIMIT_EXCEEDED (HTTP 429). Default 64. */
  maxMcpSessions: number;
  /** Open MCP sessions one principal (a credential, or the owner token) may hold. Default 16. */
  maxMcpSessionsPerPrincipal: number;
  /** An MCP session with no request for this long (ms) is closed. Default 30 min. */
  mcpSessionIdleMs: number;
}

export const DEFAULT_AGENTS: IcpyAgentsConfig = {
  baseUrl: '',
  apiKey: '',
  model: 'gpt-4o-mini',
  maxConcurrentRuns: 4,
  maxTurns: 20,
  runTimeoutMs: 10 * 60 * 1000,
  activityRows: 10_000,
  maxMcpSessions: 64,
  maxMcpSessionsPerPrincipal: 16,
  mcpSessionIdleMs: 30 * 60 * 1000,
};

function resolveAgents(input: Partial<IcpyAgentsConfig> = {}): IcpyAgentsConfig {
  const out = { ...DEFAULT_AGENTS };
  for (const key of ['maxConcurrentRuns', 'maxTurns', 'runTimeoutMs', 'activityRows', 'maxMcpSessions', 'maxMcpSessionsPerPrincipal', 'mcpSessionIdleMs'] as const) {
    out[key] = input[key] ?? envInt(envName(key, 'ICPY_AGENTS_')) ?? DEFAULT_AGENTS[key];
  }
  out.baseUrl = input.baseUrl ?? (process.env.ICPY_AGENTS_BASE_URL || process.env.OPENAI_BASE_URL || '');
  out.apiKey = input.apiKey ?? (process.env.ICPY_AGENTS_API_KEY || process.env.OPENAI_API_KEY || '');
  out.model = input.model ?? (process.env.ICPY_AGENTS_MODEL || DEFAULT_AGENTS.model);
  if (out.baseUrl !== '' && !/^https?:\/\//.test(out.baseUrl)) throw new Error(`agents.baseUrl (ICPY_AGENTS_BASE_URL) must be an http(s) URL, got '${out.baseUrl}'`);
  return out;
}

/** Language servers: lifetimes and bounds. Env `ICPY_LSP_<SNAKE>`. */
export interface IcpyLspConfig {
  /** A language server nobody has used for this long (ms) is stopped; 0 = never. Default 10 min. */
  idleTimeoutMs: number;
  /** A request a language server has not answered in this long (ms) fails with TIMEOUT. Default 10 s. */
  requestTimeoutMs: number;
  /** Requests one client (connection) may have in flight to language servers; more → LIMIT_EXCEEDED. Default 32. */
  maxInflightPerClient: number;
  /** Restarts of a crashed server within a minute before icpy gives up on it (until asked again). Default 5. */
  maxRestartsPerMinute: number;
  /**
   * Language servers added to (or replacing, by id) the built-in typescript, python and
   * shellscript. Env ICPY_LSP_LANGUAGES: a JSON array of the same objects. Default none.
   */
  languages: LspLanguageConfig[];
}

/** One configured language server: `command` speaks LSP over stdio. */
export interface LspLanguageConfig {
  /** The server's id and primary LSP language id (`go`, `rust`). */
  id: string;
  /** More LSP language ids it serves. */
  languageIds?: string[];
  /** File extensions with their dot (`.go`) mapped to `id`. */
  extensions: string[];
  command: string[];
  /** Named when the command is missing (`gopls (go install golang.org/x/tools/gopls@latest)`). */
  package?: string;
  initializationOptions?: unknown;
  /** Answers workspace/configuration: section → value. */
  settings?: Record<string, unknown>;
}

export const DEFAULT_LSP: IcpyLspConfig = {
  idleTimeoutMs: 10 * 60 * 1000,
  requestTimeoutMs: 10_000,
  maxInflightPerClient: 32,
  maxRestartsPerMinute: 5,
  languages: [],
};

/** Code execution (exec.*): limits, queue, sandbox policy, languages. Env `ICPY_EXEC_<SNAKE>`. */
export interface IcpyExecConfig {
  /** Runs executing at once; more wait in a queue (exec.queued reports position). Default 4. */
  maxConcurrentRuns: number;
  /** Runs waiting in the queue; one more is LIMIT_EXCEEDED. Default 64. */
  maxQueuedRuns: number;
  /** Wall-clock timeout when a run gives none (ms). Default 60 000. */
  defaultTimeoutMs: number;
  /** Largest timeout a run may ask for (ms). Default 3 600 000. */
  maxTimeoutMs: number;
  /** Output bytes kept and streamed per run (stdout + stderr); beyond, truncated with a marker. Default 8 MiB. */
  maxOutputBytes: number;
  /** Memory limit (MiB) when a run gives none; 0 = none. Default 0. */
  defaultMemoryMb: number;
  /** CPU-time limit (s) when a run gives none; 0 = none. Default 0. */
  defaultCpuSeconds: number;
  /** Runs kept in exec.history (SQLite). Default 1000. */
  historyMaxRuns: number;
  /** Agents' runs are sandboxed unless they ask otherwise … (1 = on). Env ICPY_EXEC_SANDBOX_AGENTS=1. Default 0. */
  sandboxAgents: number;
  /**
   * Languages added to (or replacing) the built-in python, javascript, typescript and bash. Env
   * ICPY_EXEC_LANGUAGES: a JSON array of the same objects. Default none.
   */
  languages: ExecLanguageConfig[];
  /**
   * The bubblewrap executable for sandboxed runs; '' (default) finds `bwrap` on PATH, then in
   * /usr/bin. Missing or not executable: sandboxed runs answer SANDBOX_UNAVAILABLE. Env ICPY_EXEC_BWRAP_PATH.
   */
  bwrapPath: string;
}

/** One configured language: `command` (interpreter and fixed arguments; the program file and args follow). */
export interface ExecLanguageConfig {
  id: string;
  command: string[];
  /** With the dot (`.rb`): names the temporary file for code, maps a path to the language. */
  extension: string;
  /** Shown when the interpreter is missing. */
  installHint: string;
}

export const DEFAULT_EXEC: IcpyExecConfig = {
  maxConcurrentRuns: 4,
  maxQueuedRuns: 64,
  defaultTimeoutMs: 60_000,
  maxTimeoutMs: 3_600_000,
  maxOutputBytes: 8 * 1024 * 1024,
  defaultMemoryMb: 0,
  defaultCpuSeconds: 0,
  historyMaxRuns: 1000,
  sandboxAgents: 0,
  languages: [],
  bwrapPath: '',
};

/** Live documents: when edits reach disk and how much history is kept. Env `ICPY_DOCS_<SNAKE>`. */
export interface IcpyDocsConfig {
  /** A live document is saved this long (ms) after its last edit. Default 500. */
  saveDebounceMs: number;
  /** …and at the latest this long (ms) after its first unsaved edit, even while edits keep coming. Default 5000. */
  saveMaxDelayMs: number;
  /** Versions kept per file (checkpoints included; the oldest unnamed go first). Default 200. */
  historyMaxVersions: number;
  /** Bytes of version content kept per file. Default 64 MiB. */
  historyMaxBytes: number;
  /** A client that shows no sign of life for this long (ms) leaves presence (Yjs awareness's own bound). Default 30000. */
  presenceTimeoutMs: number;
}

export const DEFAULT_DOCS: IcpyDocsConfig = {
  saveDebounceMs: 500,
  saveMaxDelayMs: 5000,
  historyMaxVersions: 200,
  historyMaxBytes: 64 * 1024 * 1024,
  presenceTimeoutMs: 30_000,
};

/**
 * Bounds on hostile or runaway input: per message, per connection and per server. Every breach
 * answers a documented error (`LIMIT_EXCEEDED` with `data.limit` naming the setting, or
 * `REPLY_TOO_LARGE`); none takes the server down. Env: `ICPY_LIMIT_<NAME>` in upper snake case
 * (e.g. `ICPY_LIMIT_MAX_BATCH_LENGTH=50`).
 */
export interface IcpyLimits {
  /** Elements in one JSON-RPC batch. Default 100. */
  maxBatchLength: number;
  /** Batch elements of one batch running at once. Default 8. */
  batchConcurrency: number;
  /** Bytes of one encoded reply (a batch's replies together). Default 16 MiB. */
  maxReplyBytes: number;
  /** File bytes being read (files.read, REST GET) at once by one connection. Default 32 MiB. */
  maxInflightReadBytesPerConnection: number;
  /** File bytes being read at once by the whole server. Default 128 MiB. */
  maxInflightReadBytes: number;
  /** Open WebSocket + SSE connections. Default 2048. */
  maxConnections: number;
  /** Event subscriptions one connection holds. Default 64. */
  maxSubscriptionsPerConnection: number;
  /** Patterns in one subscription (events.subscribe, events.history, SSE). Default 32. */
  maxPatternsPerSubscription: number;
  /** Characters in one topic pattern. Default 256. */
  maxPatternLength: number;
  /** Dotted segments in one topic pattern. Default 16. */
  maxPatternSegments: number;
  /** Encoded bytes of one event's data (events.emit and every publish). Default 1 MiB. */
  maxEventBytes: number;
  /** Nesting depth of one event's data, and of any JSON value a method stores. Default 64. */
  maxValueDepth: number;
  /** Live terminals in the workspace. Default 64. */
  maxTerminals: number;
  /** Content searches running at once. Default 4. */
  maxConcurrentSearches: number;
  /** An exited terminal (and its final output) stays listed this long (ms). Default 10 min. */
  exitedTerminalGraceMs: number;
  /** Live documents held in memory at once (WS /api/yjs rooms and docs.open). Default 256. */
  maxOpenDocs: number;
  /** Largest file (bytes) opened as a live document. Default 8 MiB. */
  maxDocBytes: number;
  /** Live documents one connection has open at once (Yjs rooms + docs.open). Default 64. */
  maxDocsPerConnection: number;
  /** Edits in one docs.applyEdits call. Default 1000. */
  maxEditsPerCall: number;
}

export const DEFAULT_LIMITS: IcpyLimits = {
  maxBatchLength: 100,
  batchConcurrency: 8,
  maxReplyBytes: 16 * 1024 * 1024,
  maxInflightReadBytesPerConnection: 32 * 1024 * 1024,
  maxInflightReadBytes: 128 * 1024 * 1024,
  maxConnections: 2048,
  maxSubscriptionsPerConnection: 64,
  maxPatternsPerSubscription: 32,
  maxPatternLength: 256,
  maxPatternSegments: 16,
  maxEventBytes: 1024 * 1024,
  maxValueDepth: 64,
  maxTerminals: 64,
  maxConcurrentSearches: 4,
  exitedTerminalGraceMs: 10 * 60 * 1000,
  maxOpenDocs: 256,
  maxDocBytes: 8 * 1024 * 1024,
  maxDocsPerConnection: 64,
  maxEditsPerCall: 1000,
};

function envName(key: string, prefix = 'ICPY_LIMIT_'): string {
  return prefix + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

function resolveLsp(input: Partial<IcpyLspConfig> = {}): IcpyLspConfig {
  const out = { ...DEFAULT_LSP };
  for (const key of ['idleTimeoutMs', 'requestTimeoutMs', 'maxInflightPerClient', 'maxRestartsPerMinute'] as const) {
    out[key] = input[key] ?? envInt(envName(key, 'ICPY_LSP_')) ?? DEFAULT_LSP[key];
  }
  if (out.maxInflightPerClient < 1) throw new Error('lsp.maxInflightPerClient (ICPY_LSP_MAX_INFLIGHT_PER_CLIENT) must be at least 1');
  out.languages = checkLspLanguages(input.languages ?? envJson('ICPY_LSP_LANGUAGES') ?? [], input.languages ? 'lsp.languages' : 'ICPY_LSP_LANGUAGES');
  return out;
}

function envJson(name: string): unknown {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  try {
    return JSON.parse(v);
  } catch {
    throw new Error(`${name} must be JSON, got '${v}'`);
  }
}

/** Strict: a malformed language-server entry stops the server at start, naming the entry and field. */
function checkLspLanguages(v: unknown, where: string): LspLanguageConfig[] {
  if (!Array.isArray(v) || v.length > 64) throw new Error(`${where} must be an array of at most 64 language servers`);
  const id = /^[a-z][a-z0-9_+.-]{0,63}$/;
  return v.map((l: unknown, i) => {
    const bad = (field: string, what: string) => new Error(`${where}[${i}].${field} must be ${what}`);
    if (l === null || typeof l !== 'object' || Array.isArray(l)) throw new Error(`${where}[${i}] must be an object`);
    const o = l as Record<string, unknown>;
    const known = ['id', 'languageIds', 'extensions', 'command', 'package', 'initializationOptions', 'settings'];
    for (const k of Object.keys(o)) if (!known.includes(k)) throw bad(k, 'absent (unknown field)');
    if (typeof o.id !== 'string' || !id.test(o.id)) throw bad('id', 'a lower-case language id (a-z, 0-9, _+.-)');
    if (o.languageIds !== undefined && (!Array.isArray(o.languageIds) || o.languageIds.length > 16 || o.languageIds.some((x) => typeof x !== 'string' || !id.test(x)))) {
      throw bad('languageIds', 'an array of lower-case language ids');
    }
    if (!Array.isArray(o.extensions) || o.extensions.length < 1 || o.extensions.length > 32 || o.extensions.some((e) => typeof e !== 'string' || !/^\.[A-Za-z0-9_.+-]{1,16}$/.test(e))) {
      throw bad('extensions', "a non-empty array of file extensions with their dot ('.go')");
    }
    if (!Array.isArray(o.command) || o.command.length < 1 || o.command.length > 64 || o.command.some((c) => typeof c !== 'string' || !c || c.includes('\0'))) {
      throw bad('command', 'a non-empty array of non-empty strings');
    }
    if (o.package !== undefined && (typeof o.package !== 'string' || o.package.length > 500)) throw bad('package', 'a string');
    if (o.settings !== undefined && (o.settings === null || typeof o.settings !== 'object' || Array.isArray(o.settings))) throw bad('settings', 'an object');
    return {
      id: o.id,
      ...(o.languageIds ? { languageIds: o.languageIds as string[] } : {}),
      extensions: o.extensions as string[],
      command: o.command as string[],
      ...(o.package !== undefined ? { package: o.package as string } : {}),
      ...(o.initializationOptions !== undefined ? { initializationOptions: o.initializationOptions } : {}),
      ...(o.settings !== undefined ? { settings: o.settings as Record<string, unknown> } : {}),
    };
  });
}

function resolveExec(input: Partial<IcpyExecConfig> = {}): IcpyExecConfig {
  const out = { ...DEFAULT_EXEC };
  for (const key of Object.keys(DEFAULT_EXEC) as (keyof IcpyExecConfig)[]) {
    if (key === 'languages' || key === 'bwrapPath') continue;
    out[key] = input[key] ?? envInt(envName(key, 'ICPY_EXEC_')) ?? DEFAULT_EXEC[key];
  }
  if (out.sandboxAgents > 1) throw new Error(`ICPY_EXEC_SANDBOX_AGENTS must be 0 or 1, got '${out.sandboxAgents}'`);
  out.bwrapPath = input.bwrapPath ?? process.env.ICPY_EXEC_BWRAP_PATH ?? '';
  if (out.bwrapPath !== '' && !isAbsolute(out.bwrapPath)) throw new Error(`exec.bwrapPath (ICPY_EXEC_BWRAP_PATH) must be an absolute path, got '${out.bwrapPath}'`);
  out.languages = checkLanguages(input.languages ?? envLanguages() ?? [], input.languages ? 'exec.languages' : 'ICPY_EXEC_LANGUAGES');
  return out;
}

function envLanguages(): unknown {
  const v = process.env.ICPY_EXEC_LANGUAGES;
  if (v === undefined || v === '') return undefined;
  try {
    return JSON.parse(v);
  } catch {
    throw new Error(`ICPY_EXEC_LANGUAGES must be a JSON array of {id, command, extension, installHint}, got '${v}'`);
  }
}

/** Strict: a malformed language entry stops the server at start, naming the entry and field. */
function checkLanguages(v: unknown, where: string): ExecLanguageConfig[] {
  if (!Array.isArray(v) || v.length > 64) throw new Error(`${where} must be an array of at most 64 languages`);
  return v.map((l: unknown, i) => {
    const bad = (field: string, what: string) => new Error(`${where}[${i}].${field} must be ${what}`);
    if (l === null || typeof l !== 'object') throw new Error(`${where}[${i}] must be an object`);
    const o = l as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['id', 'command', 'extension', 'installHint'].includes(k)) throw bad(k, 'absent (unknown field)');
    if (typeof o.id !== 'string' || !/^[a-z][a-z0-9_+-]{0,63}$/.test(o.id)) throw bad('id', 'a lower-case name (a-z, 0-9, _+-)');
    if (!Array.isArray(o.command) || o.command.length < 1 || o.command.length > 64 || o.command.some((c) => typeof c !== 'string' || !c || c.includes('\0'))) {
      throw bad('command', 'a non-empty array of non-empty strings');
    }
    if (typeof o.extension !== 'string' || !/^\.[A-Za-z0-9_.+-]{1,16}$/.test(o.extension)) throw bad('extension', "a file extension with its dot ('.rb')");
    if (o.installHint !== undefined && (typeof o.installHint !== 'string' || o.installHint.length > 500)) throw bad('installHint', 'a string');
    return { id: o.id, command: o.command as string[], extension: o.extension, installHint: (o.installHint as string | undefined) ?? `install ${o.command[0]}` };
  });
}

function resolveDocs(input: Partial<IcpyDocsConfig> = {}): IcpyDocsConfig {
  const out = { ...DEFAULT_DOCS };
  for (const key of Object.keys(DEFAULT_DOCS) as (keyof IcpyDocsConfig)[]) {
    out[key] = input[key] ?? envInt(envName(key, 'ICPY_DOCS_')) ?? DEFAULT_DOCS[key];
  }
  return out;
}

function resolveLimits(input: Partial<IcpyLimits> = {}): IcpyLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof IcpyLimits)[]) {
    out[key] = input[key] ?? envInt(envName(key)) ?? DEFAULT_LIMITS[key];
  }
  return out;
}

export type IcpyConfigInput = Partial<Omit<IcpyConfig, 'limits' | 'docs' | 'exec' | 'lsp' | 'agents'>> & {
  root?: string;
  limits?: Partial<IcpyLimits>;
  docs?: Partial<IcpyDocsConfig>;
  exec?: Partial<IcpyExecConfig>;
  lsp?: Partial<IcpyLspConfig>;
  agents?: Partial<IcpyAgentsConfig>;
};

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got '${v}'`);
  return n;
}

function envList(name: string): string[] | undefined {
  const v = process.env[name];
  return v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

/** Defaults ← environment (ICPY_*) ← explicit input. */
export function resolveConfig(input: IcpyConfigInput = {}): IcpyConfig {
  const token = input.token ?? (process.env.ICPY_TOKEN || undefined);
  return {
    root: resolve(input.root ?? process.cwd()),
    host: input.host ?? process.env.ICPY_HOST ?? '127.0.0.1',
    port: input.port ?? envInt('ICPY_PORT') ?? 8000,
    token: token ?? generateToken(),
    tokenGenerated: token === undefined,
    allowedOrigins: input.allowedOrigins ?? envList('ICPY_ALLOWED_ORIGINS') ?? [],
    allowedHosts: input.allowedHosts ?? envList('ICPY_ALLOWED_HOSTS') ?? [],
    maxMessageBytes: input.maxMessageBytes ?? envInt('ICPY_MAX_MESSAGE_BYTES') ?? 16 * 1024 * 1024,
    heartbeatMs: input.heartbeatMs ?? envInt('ICPY_HEARTBEAT_MS') ?? 15_000,
    historyEvents: input.historyEvents ?? envInt('ICPY_HISTORY_EVENTS') ?? 10_000,
    historyBytes: input.historyBytes ?? envInt('ICPY_HISTORY_BYTES') ?? 32 * 1024 * 1024,
    subscriptionQueue: input.subscriptionQueue ?? 10_000,
    highWaterBytes: input.highWaterBytes ?? 1024 * 1024,
    sseKeepaliveMs: input.sseKeepaliveMs ?? 15_000,
    logLevel: input.logLevel ?? ((process.env.ICPY_LOG_LEVEL as IcpyConfig['logLevel']) || 'info'),
    runtimeDir: input.runtimeDir ?? process.env.ICPY_RUNTIME_DIR,
    checkResults: input.checkResults ?? process.env.ICPY_CHECK_RESULTS === '1',
    terminalScrollbackBytes: input.terminalScrollbackBytes ?? envInt('ICPY_TERMINAL_SCROLLBACK_BYTES') ?? 1024 * 1024,
    terminalIdleTimeoutMs: input.terminalIdleTimeoutMs ?? envInt('ICPY_TERMINAL_IDLE_TIMEOUT_MS') ?? 0,
    terminalHighWaterBytes: input.terminalHighWaterBytes ?? envInt('ICPY_TERMINAL_HIGH_WATER_BYTES') ?? 1024 * 1024,
    terminalStallTimeoutMs: input.terminalStallTimeoutMs ?? envInt('ICPY_TERMINAL_STALL_TIMEOUT_MS') ?? 10_000,
    readOnly: input.readOnly ?? process.env.ICPY_READ_ONLY === '1',
    searchEngine: input.searchEngine ?? searchEngineFromEnv(),
    limits: resolveLimits(input.limits),
    docs: resolveDocs(input.docs),
    exec: resolveExec(input.exec),
    lsp: resolveLsp(input.lsp),
    agents: resolveAgents(input.agents),
  };
}

function searchEngineFromEnv(): 'auto' | 'builtin' {
  const v = process.env.ICPY_SEARCH_ENGINE;
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'builtin') return 'builtin';
  throw new Error(`ICPY_SEARCH_ENGINE must be 'auto' or 'builtin', got '${v}'`);
}
