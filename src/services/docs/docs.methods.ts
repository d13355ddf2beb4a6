import { z } from 'zod';
import { pathAllowed } from '../../core/principal.js';
import { defineMethod, sourceOf, type ConnectionInfo, type MethodContext } from '../../core/rpc/index.js';
import type { DocService } from './doc-service.js';

const path = z.string().max(4096).describe('Workspace-relative path of a text file');
const position = z.strictObject({
  line: z.number().int().min(0).describe('Zero-based line (\\n, \\r\\n and \\r end a line)'),
  character: z.number().int().min(0).describe('Zero-based offset in the line in UTF-16 code units (past the end = end of line)'),
});
const range = z.strictObject({ start: position, end: position });
const edit = z.strictObject({ range, text: z.string().describe('Replacement text ("" deletes the range)') });
const version = z.number().int().describe('Document version: +1 on every change to the text');
const docText = z.object({ path: z.string(), text: z.string(), version, fileVersion: z.string(), dirty: z.boolean().describe('Has changes not yet saved to disk') });

/** A connection's docs.open holds on one path (released when it closes). */
class Hold {
  count = 0;
  constructor(private readonly release: () => void) {}
  dispose(): void {
    this.release();
  }
}

const holdKey = (p: string) => `docs.open:${p}`;

export interface DocsMethodHooks {
  /** After a docs.applyEdits call landed (presence shows the caller at its edit). */
  onEdited?: (connection: ConnectionInfo, path: string) => void;
}

export function createDocsMethods(docs: DocService, hooks: DocsMethodHooks = {}) {
  const open = defineMethod({
    name: 'docs.open',
    description:
      'Hold the live document of a text file open for this connection (loading it from disk when it is not yet open), so its edits stay in memory and merge in real time. Held until docs.close or the connection closes; each docs.open needs its own docs.close. WebSocket only (over HTTP, docs.get and docs.applyEdits load the document for the call). At most limits.maxDocsPerConnection per connection and limits.maxOpenDocs in all (LIMIT_EXCEEDED).',
    params: z.strictObject({ path }),
    result: docText,
    scope: 'read',
    paths: (p) => [{ field: 'path', path: p.path }],
    requiresSession: true,
    examples: [{ params: { path: 'src/app.py' }, result: { path: 'src/app.py', text: 'print("hi")\n', version: 1, fileVersion: '1a2b3c-12', dirty: false } }],
    handler: async (p, ctx) => {
      const session = ctx.session!;
      const live = await docs.open(p.path, ctx.connection);
      const key = holdKey(live.path);
      let hold = session.handles.get(key) as Hold | undefined;
      if (!hold) {
        hold = new Hold(() => docs.releaseAll(live.path, ctx.connection.id));
        session.handles.set(key, hold);
      }
      hold.count++;
      return docs.get(live.path);
    },
  });

  const close = defineMethod({
    name: 'docs.close',
    description: 'End one docs.open hold of this connection on a document. The document unloads once nobody holds it, no Yjs client is in its room, and it is saved.',
    params: z.strictObject({ path }),
    result: z.object({ path: z.string(), held: z.number().int().describe('Holds this connection still has on it') }),
    scope: 'read',
    paths: (p) => [{ field: 'path', path: p.path }],
    requiresSession: true,
    handler: (p, ctx) => {
      const key = holdKey(p.path);
      const hold = ctx.session!.handles.get(key) as Hold | undefined;
      if (!hold) return { path: p.path, held: 0 };
      hold.count--;
      if (hold.count > 0) docs.release(p.path, ctx.connection.id);
      else {
        ctx.session!.handles.delete(key);
        hold.dispose();
      }
      return { path: p.path, held: Math.max(0, hold.count) };
    },
  });

  const get = defineMethod({
    name: 'docs.get',
    description:
      'The live text of a file and its version: the in-memory document when it is open (with unsaved edits), else the file on disk. Pass `version` as baseVersion to docs.applyEdits.',
    params: z.strictObject({ path }),
    result: docText,
    scope: 'read',
    paths: (p) => [{ field: 'path', path: p.path }],
    examples: [{ params: { path: 'src/app.py' }, result: { path: 'src/app.py', text: 'print("hi")\n', version: 7, fileVersion: '1a2b3c-12', dirty: true } }],
    handler: (p) => docs.get(p.path),
  });

  const applyEdits = defineMethod({
    name: 'docs.applyEdits',
    description:
      'Edit a live document without speaking Yjs (CLI, agents): LSP TextEdit[] semantics — every range refers to the same text, ranges must not overlap (INVALID_PARAMS naming edits[i].range), inserts at one position apply in array order; positions are LSP line/character with character in UTF-16 code units. The edits merge into the live document as in-place changes (open editors keep their cursors) and are saved to disk debounced. With baseVersion, the ranges refer to the text at that version and are rebased over the changes made since (concurrent typing is kept); a version too old to rebase onto → VERSION_CONFLICT with data.currentVersion. At most limits.maxEditsPerCall edits.',
    params: z.strictObject({
      path,
      edits: z.array(edit).min(1).describe('Non-overlapping edits against one text'),
      baseVersion: version.optional().describe('The version the ranges refer to (from docs.get); default the current one'),
    }),
    result: z.object({ path: z.string(), version }),
    scope: 'write',
    paths: (p) => [{ field: 'path', path: p.path }],
    examples: [
      {
        params: { path: 'src/app.py', baseVersion: 7, edits: [{ range: { start: { line: 0, character: 7 }, end: { line: 0, character: 9 } }, text: 'hello' }] },
        result: { path: 'src/app.py', version: 8 },
      },
    ],
    handler: async (p, ctx: MethodContext) => {
      const r = await docs.applyEdits(p.path, p.edits, { ...(p.baseVersion !== undefined ? { baseVersion: p.baseVersion } : {}), source: sourceOf(ctx) });
      hooks.onEdited?.(ctx.connection, r.path);
      return r;
    },
  });

  const save = defineMethod({
    name: 'docs.save',
    description: 'Write a live document to disk now instead of after the debounce. saved is false when there was nothing unsaved (or the document is not open).',
    params: z.strictObject({ path }),
    result: z.object({ path: z.string(), fileVersion: z.string(), saved: z.boolean() }),
    scope: 'write',
    paths: (p) => [{ field: 'path', path: p.path }],
    // Writes the live text the caller could already edit: nothing is lost.
    destructive: false,
    idempotent: true,
    examples: [{ params: { path: 'src/app.py' }, result: { path: 'src/app.py', fileVersion: '1a2b3d-17', saved: true } }],
    handler: (p) => docs.save(p.path),
  });

  const list = defineMethod({
    name: 'docs.list',
    description: 'The live documents in memory now, with their Yjs peers and docs.open holds.',
    params: z.strictObject({}),
    result: z.object({
      docs: z.array(
        z.object({
          path: z.string(),
          version,
          fileVersion: z.string(),
          dirty: z.boolean(),
          peers: z.number().int().describe('Yjs clients in the room'),
          holders: z.number().int().describe('docs.open holds'),
        }),
      ),
    }),
    scope: 'read',
    pathFree: true,
    visible: (r, pr) => ({ docs: r.docs.filter((d) => pathAllowed(pr, d.path)) }),
    examples: [{ params: {}, result: { docs: [{ path: 'src/app.py', version: 8, fileVersion: '1a2b3c-12', dirty: true, peers: 2, holders: 1 }] } }],
    handler: () => ({ docs: docs.list() }),
  });

  return [open, close, get, applyEdits, save, list];
}
