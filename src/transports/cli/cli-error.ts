/**
 * Exit codes of the `icpy` command (contract, documented in docs/cli.md):
 * 0 success, 1 the call failed, 2 usage error, 3 no server reachable.
 */
export const ExitCode = {
  Ok: 0,
  CallFailed: 1,
  Usage: 2,
  NoServer: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const START_HINT = 'start one with `npx icpy serve .` (or pass --url/--token, or set ICPY_URL/ICPY_TOKEN)';

/** Something the CLI reports and exits on; `exitCode` says which kind. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** Shown after the message on its own line (usage text, hints). */
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function usageError(message: string, detail?: string): CliError {
  return new CliError(ExitCode.Usage, message, detail);
}

export function noServerError(message: string): CliError {
  return new CliError(ExitCode.NoServer, `${message}; ${START_HINT}`);
}

/** A JSON-RPC error returned by the server; `code` is the stable string (VERSION_CONFLICT…). */
export class RpcCallError extends Error {
  constructor(
    readonly rpcCode: number,
    readonly code: string,
    message: string,
    readonly data: Record<string, unknown> | undefined,
  ) {
    super(message);
    this.name = 'RpcCallError';
  }

  toWire(): { code: number; message: string; data: Record<string, unknown> } {
    return { code: this.rpcCode, message: this.message, data: { ...(this.data ?? {}), code: this.code } };
  }
}

export function rpcErrorFrom(wire: unknown): RpcCallError {
  const e = (wire ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
  const data = e.data && typeof e.data === 'object' ? (e.data as Record<string, unknown>) : undefined;
  const code = typeof data?.code === 'string' ? data.code : `RPC_${String(e.code ?? 'ERROR')}`;
  return new RpcCallError(typeof e.code === 'number' ? e.code : -32603, code, String(e.message ?? 'Unknown error'), data);
}
