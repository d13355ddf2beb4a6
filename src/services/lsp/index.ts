export { LanguageServer, type LanguageServerOptions, type ServerState } from './language-server.js';
export { ServerTable, builtinServers, resolveServerCommand, serverTable, type LspLanguageConfig, type ServerSpec } from './servers.js';
export { RawLspHosts, RawSession, RawCode, initializeAnswer, type RawDocs, type RawHostsDeps, type RawServer, type RawSessionDeps } from './raw-session.js';
