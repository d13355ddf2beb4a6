import { z } from 'zod';
import { buildOpenRpc, defineMethod, type MethodRegistry } from '../../core/rpc/index.js';

export interface ServerInfo {
  name: string;
  version: string;
  root: string;
  pid: number;
  startedAt: number;
}

export function createSystemMethods(registry: MethodRegistry, info: ServerInfo) {
  // Built once per registry change, not per call: a batch of rpc.discover used to rebuild every
  // JSON Schema for each element (25 KB of requests → 42 MB of reply and 8 s of a blocked loop).
  let cached: { version: number; doc: Record<string, unknown> } | undefined;
  const discover = () => {
    if (cached?.version !== registry.version) {
      const doc = buildOpenRpc(registry, {
        title: 'icpy',
        version: info.version,
        description: 'Workspace backend for the icotes web IDE. See docs/protocol.md.',
      });
      cached = { version: registry.version, doc };
    }
    return cached.doc;
  };
  return [
    defineMethod({
      name: 'rpc.discover',
      description: 'OpenRPC 1.3 document of every method (with JSON Schemas of params and result) and, under x-events, every event topic with its payload schema.',
      params: z.strictObject({}),
      result: z.record(z.string(), z.unknown()),
      scope: 'read',
      pathFree: true,
      handler: discover,
    }),
    defineMethod({
      name: 'server.info',
      description: 'Name, version, workspace root, pid and start time of this server.',
      params: z.strictObject({}),
      result: z.object({ name: z.string(), version: z.string(), root: z.string(), pid: z.number(), startedAt: z.number() }),
      scope: 'read',
      pathFree: true,
      handler: () => info,
    }),
  ];
}
