import { resolve } from 'node:path';
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
}

export type IcpyConfigInput = Partial<IcpyConfig> & { root?: string };

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
  };
}
