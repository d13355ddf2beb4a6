import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, extname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IcpyError } from '../../core/errors.js';

/**
 * One language server: which LSP language ids and file extensions it serves, how to start it
 * (`command`, speaking LSP over stdio), and which package to name when it is missing. One server
 * may serve several language ids (typescript-language-server serves TypeScript and JavaScript).
 */
export interface ServerSpec {
  /** The server's id: its primary language id (`typescript`, `python`, `shellscript`). */
  id: string;
  /** LSP language ids it serves (the first is `id`); `WS /api/lsp/{languageId}` accepts each. */
  languageIds: string[];
  /** Extension (with its dot) → the language id a file with it has. */
  extensions: Record<string, string>;
  /** Executable and arguments; the first word is looked up on PATH when it holds no slash. */
  command: string[];
  /** Named in LSP_SERVER_UNAVAILABLE: the npm or Debian package that provides the server. */
  package: string;
  initializationOptions?: unknown;
  /** Answers `workspace/configuration`: section name → value (a missing section is null). */
  settings?: Record<string, unknown>;
}

/** A language configured by the user (config `lsp.languages`, env ICPY_LSP_LANGUAGES). */
export interface LspLanguageConfig {
  id: string;
  languageIds?: string[];
  extensions: string[];
  command: string[];
  package?: string;
  initializationOptions?: unknown;
  settings?: Record<string, unknown>;
}

/** icpy's own node_modules: the language servers are icpy's dependencies, never the workspace's. */
const OWN_NODE_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));
const requireHere = createRequire(import.meta.url);

/**
 * The command for an npm package's bin, run by this Node (no `#!/usr/bin/env node` lookup, so a
 * server starts even when `node` is not on PATH). When the bin is missing the command names the
 * path where it should be, so the missing-binary check reports it.
 */
function ownBin(name: string, args: string[]): string[] {
  const link = join(OWN_NODE_MODULES, '.bin', name);
  try {
    const real = realpathSync(link);
    if (/\.(c|m)?js$/.test(real) || !isExecutable(real)) return [process.execPath, real, ...args];
    return [real, ...args];
  } catch {
    return [link, ...args];
  }
}

function tsserverPath(): string | undefined {
  try {
    return requireHere.resolve('typescript/lib/tsserver.js');
  } catch {
    return undefined;
  }
}

export function builtinServers(): ServerSpec[] {
  const tsserver = tsserverPath();
  return [
    {
      id: 'typescript',
      languageIds: ['typescript', 'javascript', 'typescriptreact', 'javascriptreact'],
      extensions: {
        '.ts': 'typescript',
        '.mts': 'typescript',
        '.cts': 'typescript',
        '.tsx': 'typescriptreact',
        '.js': 'javascript',
        '.mjs': 'javascript',
        '.cjs': 'javascript',
        '.jsx': 'javascriptreact',
      },
      command: ownBin('typescript-language-server', ['--stdio']),
      package: 'typescript-language-server (npm, with typescript@5)',
      initializationOptions: tsserver ? { tsserver: { path: tsserver } } : undefined,
    },
    {
      id: 'python',
      languageIds: ['python'],
      extensions: { '.py': 'python', '.pyi': 'python' },
      command: ownBin('pyright-langserver', ['--stdio']),
      package: 'pyright (npm)',
    },
    {
      id: 'shellscript',
      languageIds: ['shellscript'],
      extensions: { '.sh': 'shellscript', '.bash': 'shellscript' },
      command: ownBin('bash-language-server', ['start']),
      package: 'bash-language-server (npm; diagnostics need Debian shellcheck)',
    },
  ];
}

/** Built-ins, then configured servers (one with a built-in's id replaces it). */
export function serverTable(extra: readonly LspLanguageConfig[] = []): ServerTable {
  const specs = new Map<string, ServerSpec>();
  for (const s of builtinServers()) specs.set(s.id, s);
  for (const c of extra) {
    specs.set(c.id, {
      id: c.id,
      languageIds: c.languageIds?.length ? [c.id, ...c.languageIds.filter((l) => l !== c.id)] : [c.id],
      extensions: Object.fromEntries(c.extensions.map((e) => [e, c.id])),
      command: c.command,
      package: c.package ?? c.command[0]!,
      initializationOptions: c.initializationOptions,
      settings: c.settings,
    });
  }
  return new ServerTable([...specs.values()]);
}

/** Lookups by language id and by file extension (later servers win a shared key). */
export class ServerTable {
  private readonly byLanguage = new Map<string, ServerSpec>();
  private readonly byExtension = new Map<string, { spec: ServerSpec; languageId: string }>();

  constructor(readonly specs: readonly ServerSpec[]) {
    for (const s of specs) {
      for (const l of s.languageIds) this.byLanguage.set(l, s);
      for (const [ext, languageId] of Object.entries(s.extensions)) this.byExtension.set(ext, { spec: s, languageId });
    }
  }

  forLanguage(languageId: string): ServerSpec | undefined {
    return this.byLanguage.get(languageId);
  }

  /** The server and language id for a file path, by its extension. */
  forPath(path: string): { spec: ServerSpec; languageId: string } | undefined {
    const ext = extname(path);
    return ext ? this.byExtension.get(ext) : undefined;
  }
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function exists(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The command with its executable made absolute, or LSP_SERVER_UNAVAILABLE naming the language
 * and the package. A command run by Node (`node script.js`) also needs the script to exist.
 */
export function resolveServerCommand(spec: ServerSpec, pathEnv: string | undefined): string[] {
  const [cmd, ...rest] = spec.command;
  const found = cmd!.includes('/')
    ? isExecutable(cmd!) ? cmd : undefined
    : (pathEnv ?? '').split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, cmd!)).find(isExecutable);
  const script = found === process.execPath && rest[0] && isAbsolute(rest[0]) ? rest[0] : undefined;
  if (!found || (script !== undefined && !exists(script))) {
    const missing = script ?? cmd!;
    throw new IcpyError(
      'LSP_SERVER_UNAVAILABLE',
      `The ${spec.id} language server is not installed: '${missing}' was not found. Install the package ${spec.package}.`,
      { language: spec.id, command: missing, package: spec.package },
    );
  }
  return [found, ...rest];
}
