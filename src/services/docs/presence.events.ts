import { defineEvent } from '../../core/rpc/index.js';
import { presenceChangedSchema } from './presence.methods.js';

export const presenceEvents = [
  defineEvent({
    topic: 'presence.changed',
    description:
      "A client's presence was added, updated (name, colour, active file, cursor, selection) or removed. One event per entry, coalesced: at most one per entry per 50 ms, so a burst of cursor moves sends the last position.",
    data: presenceChangedSchema,
    // Nobody's presence in a file outside the limits.
    paths: (d) => [d.entry.activeFile],
  }),
];
