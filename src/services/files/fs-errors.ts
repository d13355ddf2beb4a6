import { IcpyError } from '../../core/errors.js';

/** The param a path came from, named in `data.field` of every error about it. */
export type PathField = 'path' | 'from' | 'to';

/**
 * Map a Node fs error to the icpy error a client understands. Every errno a client's input can
 * provoke has a stable code here (documented in docs/protocol/files.md); anything else stays an
 * internal error (a bug of ours, logged by the dispatcher). `data.errno` keeps the OS's word.
 */
export function fsError(err: unknown, path: string, field: PathField = 'path'): unknown {
  if (err instanceof IcpyError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  const data = { path, field, errno: code };
  switch (code) {
    case 'ENOENT':
      return new IcpyError('FILE_NOT_FOUND', `'${path}' does not exist`, data);
    case 'EEXIST':
      return new IcpyError('FILE_EXISTS', `'${path}' already exists`, data);
    case 'ENOTDIR':
      return new IcpyError('NOT_A_DIRECTORY', `A parent of '${path}' is not a folder`, data);
    case 'EISDIR':
      return new IcpyError('IS_A_DIRECTORY', `'${path}' is a folder`, data);
    case 'ENOTEMPTY':
      return new IcpyError('DIRECTORY_NOT_EMPTY', `'${path}' is not empty`, data);
    case 'ENAMETOOLONG':
      return new IcpyError('INVALID_PARAMS', `${field}: '${truncate(path)}' is too long (a name is at most 255 bytes, a path at most 4095)`, { ...data, path: truncate(path) });
    case 'EINVAL':
      return new IcpyError('INVALID_PARAMS', `${field}: '${path}' is not valid for this operation`, data);
    case 'EACCES':
    case 'EPERM':
      return new IcpyError('FORBIDDEN', `Permission denied for '${path}'`, data);
    case 'EROFS':
      return new IcpyError('READ_ONLY_PATH', `'${path}' is on a read-only file system`, data);
    case 'ELOOP':
      return new IcpyError('PATH_OUTSIDE_WORKSPACE', `Too many levels of symbolic links at '${path}'`, data);
    case 'EXDEV':
      return new IcpyError('CROSS_DEVICE', `'${path}' is on another file system (a mount inside the workspace); copy it, then delete the original`, data);
    case 'EBUSY':
    case 'ETXTBSY':
      return new IcpyError('FILE_BUSY', `'${path}' is in use (a mount point, or a running program)`, data);
    case 'ENOSPC':
    case 'EDQUOT':
      return new IcpyError('STORAGE_FULL', `No space left for '${path}' (disk full or quota reached)`, data);
    case 'EMFILE':
    case 'ENFILE':
      return new IcpyError('UNAVAILABLE', `The server has too many open files; retry '${path}' shortly`, data);
    // fs.cp's own codes: a folder over a file (or the reverse) inside an overwriting copy
    case 'ERR_FS_CP_EEXIST':
    case 'ERR_FS_CP_DIR_TO_NON_DIR':
    case 'ERR_FS_CP_NON_DIR_TO_DIR':
      return new IcpyError('FILE_EXISTS', `${(err as Error).message} (copying to '${path}')`, data);
    case 'ERR_FS_CP_EINVAL':
      return new IcpyError('INVALID_PARAMS', `${field}: ${(err as Error).message}`, data);
    default:
      return err;
  }
}

function truncate(s: string): string {
  return s.length > 300 ? s.slice(0, 300) + '…' : s;
}
