import type { ParseArgsConfig } from 'node:util';
import type { ClientIdentity } from './client-identity.js';
import type { ServerTarget } from './discovery.js';
import type { HttpRpcClient } from './http-client.js';
import type { Output } from './output.js';
import type { WsRpcClient } from './ws-client.js';

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** What a command receives: parsed arguments plus lazily built connections to the server. */
export interface CommandContext {
  positionals: string[];
  values: OptionValues;
  out: Output;
  identity: ClientIdentity;
  cwd: string;
  /** Finds the server (flags, env, runtime file); throws exit 3 when none. */
  target(): ServerTarget;
  http(): HttpRpcClient;
  /** Opens the WebSocket (streaming commands); closed by main when the command ends. */
  /** The WebSocket client, connected on first use; a new connection once the old one closed. */
  ws(): Promise<WsRpcClient>;
  /** Workspace root of the server (runtime file, else server.info). */
  root(): Promise<string>;
  /** A path as the user typed it (relative to cwd) → the workspace-relative path the server wants. */
  serverPath(p: string): Promise<string>;
}

export interface Command {
  name: string;
  /** One line for `icpy help`. */
  summary: string;
  /** Full help text (`icpy help NAME`, `icpy NAME --help`). */
  usage: string;
  options?: OptionsConfig;
  /**
   * Words after the first positional belong to it, options included (`icpy run x.py -v`: `-v` is
   * the program's), as if `--` followed that positional.
   */
  optionsEndAtFirstPositional?: boolean;
  run(ctx: CommandContext): Promise<number | void>;
}
