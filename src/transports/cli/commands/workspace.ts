import type { Command } from '../command.js';
export const workspaceCommand: Command = { name: 'workspace', summary: '', usage: '', async run() { return 1; } };
