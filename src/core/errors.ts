/**
 * The one error table. Every error a client can see has a stable string code, a JSON-RPC
 * number and an HTTP status. Transports map errors through this table only.
 */
export const ERROR_TABLE = {
  PARSE_ERROR: { rpc: -32700, http: 400, message: 'Parse error' },
  INVALID_REQUEST: { rpc: -32600, http: 400, message: 'Invalid request' },
  METHOD_NOT_FOUND: { rpc: -32601, http: 404, message: 'Method not found' },
  INVALID_PARAMS: { rpc: -32602, http: 400, message: 'Invalid params' },
  INTERNAL_ERROR: { rpc: -32603, http: 500, message: 'Internal error' },
  UNAUTHORIZED: { rpc: -32001, http: 401, message: 'Unauthorized' },
  FORBIDDEN: { rpc: -32003, http: 403, message: 'Forbidden' },
  NOT_FOUND: { rpc: -32004, http: 404, message: 'Not found' },
  MESSAGE_TOO_LARGE: { rpc: -32005, http: 413, message: 'Message too large' },
  TIMEOUT: { rpc: -32006, http: 504, message: 'Timed out' },
  UNAVAILABLE: { rpc: -32007, http: 503, message: 'Unavailable' },
  LIMIT_EXCEEDED: { rpc: -32008, http: 429, message: 'Limit exceeded' },
  REPLY_TOO_LARGE: { rpc: -32009, http: 413, message: 'Reply too large' },
  EVENTS_GAP: { rpc: -32010, http: 410, message: 'Requested events are no longer in history' },
  SUBSCRIPTION_NOT_FOUND: { rpc: -32011, http: 404, message: 'Subscription not found' },
  FILE_NOT_FOUND: { rpc: -32020, http: 404, message: 'File not found' },
  PATH_OUTSIDE_WORKSPACE: { rpc: -32021, http: 403, message: 'Path outside workspace' },
  VERSION_CONFLICT: { rpc: -32022, http: 409, message: 'Version conflict' },
  FILE_EXISTS: { rpc: -32023, http: 409, message: 'File already exists' },
  NOT_A_DIRECTORY: { rpc: -32024, http: 400, message: 'Not a directory' },
  IS_A_DIRECTORY: { rpc: -32025, http: 400, message: 'Is a directory' },
  DIRECTORY_NOT_EMPTY: { rpc: -32026, http: 409, message: 'Directory not empty' },
  READ_ONLY_PATH: { rpc: -32027, http: 403, message: 'Path is read-only' },
  FILE_TOO_LARGE: { rpc: -32028, http: 413, message: 'File too large' },
  NOT_A_FILE: { rpc: -32019, http: 400, message: 'Not a regular file' },
  STORAGE_FULL: { rpc: -32018, http: 507, message: 'No space left' },
  FILE_BUSY: { rpc: -32017, http: 409, message: 'File is busy' },
  CROSS_DEVICE: { rpc: -32016, http: 400, message: 'Cross-device operation' },
  SEARCH_UNAVAILABLE: { rpc: -32029, http: 503, message: 'Search tool unavailable' },
  TERMINAL_NOT_FOUND: { rpc: -32030, http: 404, message: 'Terminal not found' },
  TERMINAL_EXITED: { rpc: -32031, http: 409, message: 'Terminal has exited' },
  NOT_TEXT: { rpc: -32040, http: 415, message: 'Not a text file' },
  VERSION_NOT_FOUND: { rpc: -32041, http: 404, message: 'Version not found' },
  DOC_GONE: { rpc: -32042, http: 410, message: 'Document was deleted or moved' },
  INTERPRETER_NOT_FOUND: { rpc: -32050, http: 503, message: 'Interpreter not found' },
  SANDBOX_UNAVAILABLE: { rpc: -32051, http: 503, message: 'Sandbox unavailable' },
  EXEC_NOT_FOUND: { rpc: -32052, http: 404, message: 'Run not found' },
  EXEC_FINISHED: { rpc: -32053, http: 409, message: 'Run has finished' },
  LSP_SERVER_UNAVAILABLE: { rpc: -32060, http: 503, message: 'Language server unavailable' },
  LSP_SERVER_ERROR: { rpc: -32061, http: 502, message: 'Language server error' },
  CREDENTIAL_NOT_FOUND: { rpc: -32070, http: 404, message: 'Credential not found' },
  WORKFLOW_NOT_FOUND: { rpc: -32071, http: 404, message: 'Workflow not found' },
  AGENT_RUN_NOT_FOUND: { rpc: -32072, http: 404, message: 'Agent run not found' },
  MODEL_UNAVAILABLE: { rpc: -32073, http: 503, message: 'No model configured' },
  MODEL_ERROR: { rpc: -32074, http: 502, message: 'Model error' },
} as const;

export type ErrorCode = keyof typeof ERROR_TABLE;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_TABLE, code);
}

/** An error meant for clients: its message and data are shown on the wire. */
export class IcpyError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, data?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message ?? ERROR_TABLE[code].message, options);
    this.name = 'IcpyError';
    this.code = code;
    this.data = data;
  }

  get rpcCode(): number {
    return ERROR_TABLE[this.code].rpc;
  }

  get httpStatus(): number {
    return ERROR_TABLE[this.code].http;
  }
}

export interface WireError {
  code: number;
  message: string;
  data: { code: ErrorCode } & Record<string, unknown>;
}

/**
 * Turn anything thrown into what a client may see. Unknown throws become INTERNAL_ERROR with a
 * generic message; the caller logs the original (never the stack on the wire).
 */
export function toWireError(err: unknown): WireError {
  const e = err instanceof IcpyError ? err : new IcpyError('INTERNAL_ERROR');
  return { code: e.rpcCode, message: e.message, data: { ...(e.data ?? {}), code: e.code } };
}

export function httpStatusOf(err: unknown): number {
  return err instanceof IcpyError ? err.httpStatus : 500;
}

/** Find the table entry by JSON-RPC number (for clients decoding a wire error). */
export function errorCodeFromRpc(rpc: number): ErrorCode | undefined {
  for (const [k, v] of Object.entries(ERROR_TABLE)) if (v.rpc === rpc) return k as ErrorCode;
  return undefined;
}
