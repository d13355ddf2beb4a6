export { TerminalService, type TerminalServiceOptions, type TerminalSummary, type RunResult, type CloseReason } from './terminal-service.js';
export { TerminalSession } from './terminal-session.js';
export { ScrollbackBuffer } from './scrollback-buffer.js';
export { createTerminalsMethods, terminalSchema, MAX_COLS, MAX_ROWS } from './terminals.methods.js';
export { createTerminalEvents } from './terminals.events.js';
export { encodeOutputFrame, decodeBinaryOutputFrame, BINARY_OUTPUT_FRAME, type OutputEncoding } from './output-frame.js';
