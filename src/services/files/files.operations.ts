import type { Readable } from 'node:stream';
import { z } from 'zod';
import { IcpyError } from '../../core/errors.js';
import { defineOperation, sourceOf } from '../../core/rpc/index.js';
import type { FileService } from './file-service.js';

const path = z.string().max(4096);
const body = z.custom<Readable | Buffer>((v) => Buffer.isBuffer(v) || (typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function'), {
  message: 'body must be a Buffer or a readable stream',
});

/**
 * The REST file operations (GET/HEAD and PUT on /api/files/{path}) that cannot be JSON-RPC
 * methods because they carry streams. `?stat` and DELETE are plain `files.stat` / `files.delete`
 * calls. The HTTP route only turns headers into these params and results into headers.
 */
export function createFilesOperations(files: FileService) {
  return [
    defineOperation({
      name: 'files.rest.open',
      scope: 'read',
      paths: (p) => [{ field: 'path', path: p.path }],
      // Validated by hand, not zod: this is the REST GET fast path.
      params: z.custom<{ path: string; contents: boolean }>(
        (v) => typeof v === 'object' && v !== null && typeof (v as { path: unknown }).path === 'string' && (v as { path: string }).path.length <= 4096,
        { message: 'path: must be a string of at most 4096 characters' },
      ),
      handler: (p) => files.openForRead(p.path, { contents: p.contents }),
    }),
    defineOperation({
      name: 'files.rest.put',
      scope: 'write',
      paths: (p) => [{ field: 'path', path: p.path }],
      params: z.strictObject({
        path,
        body,
        /** If-Match: a version, or '*' for "any existing version". */
        ifMatch: z.string().max(1000).optional(),
        /** If-None-Match: * → only when the file does not exist. */
        ifNoneMatch: z.literal('*').optional(),
        mkdirs: z.boolean().optional(),
      }),
      handler: async (p, ctx) => {
        let expectedVersion: string | null | undefined;
        if (p.ifNoneMatch === '*') expectedVersion = null;
        else if (p.ifMatch === '*') {
          // "any existing version": look the version up, then write conditionally on it. Only a
          // missing file fails the precondition; every other error (a folder, outside the root…)
          // is that error.
          const cur = await files.stat(p.path).catch((err: unknown) => {
            if (err instanceof IcpyError && err.code === 'FILE_NOT_FOUND') return undefined;
            throw err;
          });
          if (!cur) throw new IcpyError('VERSION_CONFLICT', 'If-Match: * but the file does not exist', { path: p.path, currentVersion: null });
          if (cur.type === 'dir') throw new IcpyError('IS_A_DIRECTORY', `'${p.path}' is a folder`, { path: p.path });
          expectedVersion = cur.version;
        } else if (p.ifMatch !== undefined) expectedVersion = p.ifMatch;
        return files.write(p.path, p.body, { expectedVersion, mkdirs: p.mkdirs, source: sourceOf(ctx) });
      },
    }),
  ];
}
