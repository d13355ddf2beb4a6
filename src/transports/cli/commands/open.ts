import type { Command } from '../command.js';
export const openCommand: Command = { name: 'open', summary: '', usage: '', async run() { return 1; } };
