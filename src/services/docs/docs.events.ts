import { z } from 'zod';
import { defineEvent } from '../../core/rpc/index.js';

const path = z.string().describe('Workspace-relative path of the file');

export const docsEvents = [
  defineEvent({
    topic: 'docs.opened',
    description: 'A live document was loaded into memory (first Yjs client joined its room, or first docs.open / docs.applyEdits).',
    data: z.object({ path, version: z.number().int(), fileVersion: z.string() }),
    paths: (d) => [d.path],
  }),
  defineEvent({
    topic: 'docs.closed',
    description:
      'A live document left memory: "unloaded" once nobody had it open and it was saved; "deleted" when its file was deleted, moved away or replaced by a non-text file on disk (its Yjs peers are closed with 4410, nothing is saved, the file is not recreated).',
    data: z.object({ path, reason: z.enum(['unloaded', 'deleted']) }),
    paths: (d) => [d.path],
  }),
  defineEvent({
    topic: 'docs.saved',
    description: "A live document was written to disk (debounced, or docs.save). Source: the author of the last edit saved.",
    data: z.object({ path, fileVersion: z.string(), version: z.number().int().describe('Document version saved') }),
    paths: (d) => [d.path],
  }),
  defineEvent({
    topic: 'docs.changed',
    description: 'The text of a live document changed (any client, or a merge from disk). Coalesced: at most one event per document per 50 ms, carrying the version at that moment.',
    data: z.object({ path, version: z.number().int() }),
    paths: (d) => [d.path],
  }),
];
