import { userInfo } from 'node:os';

/** How this CLI introduces itself, so other clients see who acted (event `source`). */
export interface ClientIdentity {
  kind: 'cli' | 'agent';
  name: string;
}

/** `--agent NAME` (or ICPY_AGENT) makes the CLI an agent; `--name` names a plain CLI. */
export function identityFrom(opts: { agent?: string; name?: string }, env: NodeJS.ProcessEnv = process.env): ClientIdentity {
  const agent = opts.agent ?? (env.ICPY_AGENT || undefined);
  if (agent) return { kind: 'agent', name: agent.slice(0, 100) };
  let user = 'user';
  try {
    user = userInfo().username || user;
  } catch {
    /* no passwd entry */
  }
  return { kind: 'cli', name: (opts.name ?? (env.ICPY_NAME || undefined) ?? `icpy-cli (${user})`).slice(0, 100) };
}
