export { ExecService, MAX_MEMORY_MB, type ExecServiceOptions, type ExecLimits, type RunRequest, type RunSummary, type WaitResult } from './exec-service.js';
export { ExecRun, type Completion, type RunTools } from './exec-run.js';
export { createExecMethods, MAX_CODE_CHARS } from './exec.methods.js';
export { execEvents } from './exec.events.js';
export { builtinLanguages, languageTable, languageForPath, findExecutable, type LanguageSpec, type LanguageTable } from './languages.js';
export { OutputLog, type OutputStream } from './output-log.js';
export type { RunHistory, RunRecord } from './run-history.js';
export type { SandboxProvider, SandboxSpec, SandboxCommand } from './sandbox-port.js';
export { bubblewrapSandbox, findBubblewrap, requireBubblewrap, sandboxCommand, sandboxEnv, sandboxHidePaths, INSTALL_HINT, type FindBubblewrapOptions } from './sandbox.js';
