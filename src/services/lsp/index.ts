export { LanguageServer, type LanguageServerOptions, type ServerState } from './language-server.js';
export { ServerTable, builtinServers, resolveServerCommand, serverTable, type LspLanguageConfig, type ServerSpec } from './servers.js';
export { RawLspHosts, RawSession, RawCode, initializeAnswer, type RawDocs, type RawLiveDoc, type RawHostsDeps, type RawServer, type RawSessionDeps } from './raw-session.js';
export { LspService, type LspServiceOptions, type DiagnosticsEntry } from './lsp-service.js';
export { DocumentSync, incrementalChanges } from './document-sync.js';
export type { LspDocs, LspLiveText, LspTextEdit, TextDeltaOp } from './lsp-docs.js';
export { createLspMethods } from './lsp.methods.js';
export { lspEvents } from './lsp.events.js';
