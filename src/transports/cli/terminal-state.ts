import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeDir } from './runtime-file.js';

/**
 * What `icpy terminal` remembers between attaches, per server URL: the output offset after the
 * last byte shown for each terminal (re-attach resumes there, so output missed while detached is
 * shown and nothing twice) and the last terminal attached (the default next time). Kept in the
 * runtime folder, since offsets mean nothing once the server is gone.
 */
interface StateFile {
  servers: Record<string, { last?: string; offsets: Record<string, { offset: number; at: number }> }>;
}

const MAX_TERMINALS_PER_SERVER = 100;

export class TerminalState {
  private readonly path: string;

  constructor(
    private readonly serverUrl: string,
    dir = runtimeDir(),
  ) {
    this.path = join(dir, 'cli-terminals.json');
  }

  private read(): StateFile {
    try {
      const s = JSON.parse(readFileSync(this.path, 'utf8')) as StateFile;
      if (s && typeof s === 'object' && s.servers && typeof s.servers === 'object') return s;
    } catch {
      /* missing or corrupt: start afresh */
    }
    return { servers: {} };
  }

  // Own keys only: a terminal id such as `constructor` or `__proto__` (typed by a user) is data.
  private server(s: StateFile) {
    if (!Object.hasOwn(s.servers, this.serverUrl)) Object.defineProperty(s.servers, this.serverUrl, { value: { offsets: {} }, enumerable: true, writable: true, configurable: true });
    const srv = s.servers[this.serverUrl]!;
    if (!srv.offsets || typeof srv.offsets !== 'object') srv.offsets = {};
    return srv;
  }

  offset(id: string): number | undefined {
    const offsets = this.server(this.read()).offsets;
    const v = Object.hasOwn(offsets, id) ? offsets[id]?.offset : undefined;
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  }

  last(): string | undefined {
    return this.server(this.read()).last;
  }

  /** Record where output stopped for `id`; written atomically (temp file + rename). */
  save(id: string, offset: number): void {
    const s = this.read();
    const srv = this.server(s);
    srv.last = id;
    Object.defineProperty(srv.offsets, id, { value: { offset, at: Date.now() }, enumerable: true, writable: true, configurable: true });
    const ids = Object.keys(srv.offsets).sort((a, b) => srv.offsets[b]!.at - srv.offsets[a]!.at);
    for (const old of ids.slice(MAX_TERMINALS_PER_SERVER)) delete srv.offsets[old];
    this.write(s);
  }

  forget(id: string): void {
    const s = this.read();
    const srv = this.server(s);
    delete srv.offsets[id];
    if (srv.last === id) delete srv.last;
    this.write(s);
  }

  private write(s: StateFile): void {
    const dir = join(this.path, '..');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(s), { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
