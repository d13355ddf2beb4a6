import type { Command } from '../command.js';
export const terminalCommand: Command = { name: 'terminal', summary: '', usage: '', async run() { return 1; } };
