import { z } from 'zod';
import { MAX_PATH_GLOBS, MAX_PATH_GLOB_LENGTH } from '../../core/principal.js';
import { defineMethod, sourceOf } from '../../core/rpc/index.js';
import type { CredentialService } from './credential-service.js';

const scopeSchema = z.enum(['read', 'write', 'execute', 'admin']);

export const credentialSummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(scopeSchema),
  paths: z.array(z.string()).nullable(),
  createdAt: z.number().int(),
  expiresAt: z.number().int().nullable(),
});

export function createAuthMethods(creds: CredentialService) {
  return [
    defineMethod({
      name: 'agents.tokens.create',
      description:
        'Create an agent credential (owner only): a token `icpy_agent_<id>_<secret>` that acts as agent NAME with these scopes, optionally limited to workspace path globs and expiring after expiresIn (30m, 12h, 7d, or milliseconds). The token is in this reply only; the server keeps a SHA-256 of it.',
      params: z.strictObject({
        name: z.string().min(1).max(200),
        scopes: z.array(scopeSchema).min(1).max(4),
        paths: z.array(z.string().max(MAX_PATH_GLOB_LENGTH)).min(1).max(MAX_PATH_GLOBS).optional(),
        expiresIn: z.union([z.string().max(40), z.number().int()]).optional(),
      }),
      result: credentialSummarySchema.extend({ token: z.string() }),
      scope: 'admin',
      pathFree: true,
      // An agent credential never manages credentials, whatever its scopes (checked by the dispatcher).
      ownerOnly: true,
      idempotent: false,
      handler: (p, ctx) => {
        return creds.create(p, sourceOf(ctx));
      },
    }),
    defineMethod({
      name: 'agents.tokens.list',
      description: 'The live agent credentials (owner only): id, name, scopes, paths, createdAt, expiresAt — never the token.',
      params: z.strictObject({}),
      result: z.array(credentialSummarySchema),
      scope: 'admin',
      pathFree: true,
      // An agent credential never manages credentials, whatever its scopes (checked by the dispatcher).
      ownerOnly: true,
      handler: () => creds.list(),
    }),
    defineMethod({
      name: 'agents.tokens.revoke',
      description:
        'Revoke an agent credential by id or name (owner only): it stops authenticating at once, and its open connections (WebSocket, Yjs, LSP, SSE, MCP) are closed within a second (WebSocket close 4401 "Credential revoked").',
      // Exactly one of id or name (a union, so the JSON Schema says so too).
      params: z.union([z.strictObject({ id: z.string().min(1).max(64) }), z.strictObject({ name: z.string().min(1).max(200) })]),
      result: credentialSummarySchema,
      scope: 'admin',
      pathFree: true,
      // An agent credential never manages credentials, whatever its scopes (checked by the dispatcher).
      ownerOnly: true,
      destructive: true,
      handler: (p, ctx) => {
        return creds.revoke('id' in p ? { id: p.id } : { name: p.name }, sourceOf(ctx));
      },
    }),
  ];
}
