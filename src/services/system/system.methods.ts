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
  return [
    defineMethod({
      name: 'rpc.discover',
      description: 'OpenRPC 1.3 document of every method (with JSON Schemas of params and result) and, under x-events, every event topic with its payload schema.',
      params: z.strictObject({}),
      result: z.record(z.string(), z.unknown()),
      scope: 'read',
      handler: () =>
        buildOpenRpc(registry, {
          title: 'icpy',
          version: info.version,
          description: 'Workspace backend for the icotes web IDE. See docs/protocol.md.',
        }),
    }),
    defineMethod({
      name: 'server.info',
      description: 'Name, version, workspace root, pid and start time of this server.',
      params: z.strictObject({}),
      result: z.object({ name: z.string(), version: z.string(), root: z.string(), pid: z.number(), startedAt: z.number() }),
      scope: 'read',
      handler: () => info,
    }),
  ];
}
