import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';

/**
 * A file's version: a fingerprint of (device, inode, size, mtime ns, ctime ns). Every write
 * through icpy is a rename of a fresh temp file, so its inode and ctime change even when size
 * and mtime would not; writes by other programs change mtime/ctime. Cheap (one stat, no read),
 * so stat, list and HTTP ETags can all carry it. Opaque to clients: compare for equality only.
 */
export function versionOf(st: BigIntStats): string {
  return createHash('sha1')
    .update(`${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`)
    .digest('base64url')
    .slice(0, 16);
}
