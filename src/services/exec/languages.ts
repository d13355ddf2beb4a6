import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IcpyError } from '../../core/errors.js';

/**
 * One runnable language. `command` is the interpreter and its fixed arguments; the program file
 * (the workspace file for `path`, or `code` written to a private temporary file named
 * `main<extension>`) is appended, then the run's `args`. The first word is looked up on the
 * server's PATH when it is not absolute.
 */
export interface LanguageSpec {
  id: string;
  command: string[];
  /** With the dot: `.py`. Names the temporary file for `code`, and maps a `path` to its language. */
  extension: string;
  /** Shown when the interpreter is missing: how to install it. */
  installHint: string;
}

/** The language table as given (built-ins, then configured ones replacing or adding). */
export type LanguageTable = ReadonlyMap<string, LanguageSpec>;

function tsxLoaderUrl(): string | undefined {
  try {
    // icpy's own dependency, never the workspace's: resolved from this module's location.
    return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  } catch {
    return undefined;
  }
}

/**
 * Built-in languages. TypeScript runs in the server's own Node with icpy's `tsx` loader
 * (`node --import tsx`: one process, no separate CLI relaying stdin).
 */
export function builtinLanguages(): LanguageSpec[] {
  const tsx = tsxLoaderUrl();
  return [
    { id: 'python', command: ['python3', '-u'], extension: '.py', installHint: 'install Python 3 (Debian: apt-get install -y python3)' },
    { id: 'javascript', command: ['node'], extension: '.js', installHint: 'install Node.js (Debian: apt-get install -y nodejs)' },
    {
      id: 'typescript',
      command: tsx ? [process.execPath, '--import', tsx] : ['tsx'],
      extension: '.ts',
      installHint: "reinstall icpy's dependencies (npm install): the tsx package is missing",
    },
    { id: 'bash', command: ['bash'], extension: '.sh', installHint: 'install bash (Debian: apt-get install -y bash)' },
  ];
}

export function languageTable(extra: readonly LanguageSpec[] = []): LanguageTable {
  const table = new Map<string, LanguageSpec>();
  for (const l of [...builtinLanguages(), ...extra]) table.set(l.id, l);
  return table;
}

/** The language whose extension `file` has (the last one configured wins). */
export function languageForPath(table: LanguageTable, file: string): LanguageSpec | undefined {
  let found: LanguageSpec | undefined;
  for (const l of table.values()) if (file.endsWith(l.extension)) found = l;
  return found;
}

/** Absolute path of an executable: `cmd` itself when it holds a slash, else the first on PATH. */
export function findExecutable(cmd: string, pathEnv: string | undefined): string | undefined {
  const candidates = cmd.includes('/') ? [cmd] : (pathEnv ?? '').split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

const resolved = new Map<string, { at: number; path: string | undefined }>();
/** Interpreters looked up again after this long, so installing one needs no restart. */
const RESOLVE_TTL_MS = 10_000;

/** The interpreter command with its first word made absolute, or INTERPRETER_NOT_FOUND naming it. */
export function resolveInterpreter(lang: LanguageSpec, pathEnv: string | undefined): string[] {
  const [cmd, ...rest] = lang.command;
  const key = `${cmd}\0${pathEnv}`;
  let hit = resolved.get(key);
  if (!hit || Date.now() - hit.at > RESOLVE_TTL_MS) {
    hit = { at: Date.now(), path: findExecutable(cmd!, pathEnv) };
    if (resolved.size > 256) resolved.clear();
    resolved.set(key, hit);
  }
  if (!hit.path) {
    throw new IcpyError('INTERPRETER_NOT_FOUND', `The ${lang.id} interpreter '${cmd}' was not found on the server's PATH: ${lang.installHint}`, {
      language: lang.id,
      command: cmd,
      install: lang.installHint,
    });
  }
  return [hit.path, ...rest];
}
