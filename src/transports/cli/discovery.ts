import { realpathSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { noServerError } from './cli-error.js';
import { listRuntimeFiles, readRuntimeDir, runtimeDir, type RuntimeInfo } from './runtime-file.js';

/** Where the CLI will talk to, and how it found it. */
export interface ServerTarget {
  /** Base URL, no path, no query (http://127.0.0.1:8000). */
  url: string;
  token: string | undefined;
  /** Workspace root when known (from the runtime file); otherwise ask server.info. */
  root: string | undefined;
  via: 'flag' | 'env' | 'runtime-file';
}

export interface DiscoveryInput {
  url?: string;
  token?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  runtimeDir?: string;
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

function contains(root: string, dir: string): boolean {
  return dir === root || dir.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Accepts `http://h:p`, `http://h:p/?token=T` (the line `icpy serve` prints) or `ws://h:p/api/ws`. */
export function parseServerUrl(raw: string): { url: string; token?: string } {
  let u: URL;
  try {
    u = new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw noServerError(`'${raw}' is not a server URL`);
  }
  const token = u.searchParams.get('token') ?? undefined;
  const proto = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  return { url: `${proto}//${u.host}`, token };
}

/**
 * The live server whose root contains `cwd`; the deepest root wins when servers are nested
 * (serving ~/a and ~/a/b, a command run in ~/a/b/c talks to the ~/a/b one).
 */
export function pickRuntimeServer(servers: RuntimeInfo[], cwd: string): RuntimeInfo | undefined {
  const here = real(cwd);
  let best: RuntimeInfo | undefined;
  let bestLen = -1;
  for (const s of servers) {
    const root = real(s.root);
    if ((contains(root, here) || contains(resolve(s.root), resolve(cwd))) && root.length > bestLen) {
      best = s;
      bestLen = root.length;
    }
  }
  return best;
}

/**
 * Flags beat ICPY_URL/ICPY_TOKEN, which beat the runtime file of a server serving this folder.
 * ICPY_TOKEN wins over the runtime file's token even when the server is found through that file,
 * so an agent given a credential runs `icpy` as itself, not as the owner.
 */
export function findServer(input: DiscoveryInput = {}): ServerTarget {
  const env = input.env ?? process.env;
  const cwd = input.cwd ?? process.cwd();
  const rawUrl = input.url ?? (env.ICPY_URL || undefined);
  if (rawUrl) {
    const parsed = parseServerUrl(rawUrl);
    let token = input.token ?? parsed.token ?? (env.ICPY_TOKEN || undefined);
    let root: string | undefined;
    const known = listRuntimeFiles(runtimeDir(input.runtimeDir)).find((s) => parseServerUrl(s.url).url === parsed.url);
    if (known) {
      token ??= known.token;
      root = known.root;
    }
    return { url: parsed.url, token, root, via: input.url ? 'flag' : 'env' };
  }
  const { servers, untrusted } = readRuntimeDir(runtimeDir(input.runtimeDir));
  const picked = pickRuntimeServer(servers, cwd);
  if (!picked) {
    const others = servers.length ? ` (running elsewhere: ${servers.map((s) => s.root).join(', ')})` : '';
    const distrust = untrusted ? ` (runtime files ignored: ${untrusted})` : '';
    throw noServerError(`no icpy server is serving ${cwd}${others}${distrust}`);
  }
  return {
    url: parseServerUrl(picked.url).url,
    token: input.token ?? (env.ICPY_TOKEN || undefined) ?? picked.token,
    root: picked.root,
    via: 'runtime-file',
  };
}
