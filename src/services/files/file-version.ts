import type { BigIntStats } from 'node:fs';

/**
 * A file's version: (device, inode, size, mtime ns, ctime ns), written compactly in base 36.
 * Every write through icpy is a rename of a fresh temp file, so its inode and ctime change even
 * when size and mtime would not; writes by other programs change mtime/ctime. Cheap (one stat,
 * no read, no hash — a hash was ~4% of a stat request), so stat, list and HTTP ETags can all
 * carry it. Opaque to clients: compare for equality only.
 */
export function versionOf(st: BigIntStats): string {
  return `${st.dev.toString(36)}.${st.ino.toString(36)}.${st.size.toString(36)}.${st.mtimeNs.toString(36)}.${st.ctimeNs.toString(36)}`;
}
