import { normalizeRel, type Principal } from '../principal.js';
import type { EventDefinition } from './method.js';
import type { MethodRegistry } from './method-registry.js';

/** What the filter needs of an event: its topic and data (a broker event, an event notification). */
export interface FilterableEvent {
  readonly topic: string;
  readonly data: unknown;
}

/**
 * May this principal receive this event? (issue 13) A principal without path limits receives
 * every event its scopes allow. A path-limited one receives an event only when its topic is
 * declared (exactly, or by a `{placeholder}` segment matching one topic segment) and the
 * declaration is `pathFree` or every path its `paths(data)` names is inside the limits. So an
 * undeclared topic (`client.*` from events.emit) and a declared one without a path rule are not
 * delivered: closed by default, like methods.
 */
export type EventVisibility = (principal: Principal, ev: FilterableEvent) => boolean;

/** Does this principal's event delivery go through the filter at all? (The owner's does not.) */
export function filtersEvents(p: Principal): boolean {
  return p.paths !== undefined || p.kind !== 'owner';
}

export function createEventVisibility(registry: MethodRegistry): EventVisibility {
  let builtAt = -1;
  let exact = new Map<string, EventDefinition>();
  let patterned: { segs: string[]; def: EventDefinition }[] = [];
  const definitionOf = (topic: string): EventDefinition | undefined => {
    if (builtAt !== registry.version) {
      exact = new Map();
      patterned = [];
      for (const def of registry.listEvents()) {
        if (def.topic.includes('{')) patterned.push({ segs: def.topic.split('.'), def });
        else exact.set(def.topic, def);
      }
      builtAt = registry.version;
    }
    const hit = exact.get(topic);
    if (hit || patterned.length === 0) return hit;
    const parts = topic.split('.');
    return patterned.find(({ segs }) => segs.length === parts.length && segs.every((s, i) => (s.startsWith('{') && s.endsWith('}') ? parts[i] !== '' : s === parts[i])))?.def;
  };
  return (principal, ev) => {
    const rule = principal.paths;
    if (!rule && principal.kind === 'owner') return true;
    const def = definitionOf(ev.topic);
    if (def?.ownerOnly && principal.kind !== 'owner') return false;
    if (!rule) return true;
    if (!def) return false;
    if (def.pathFree) return true;
    if (!def.paths) return false;
    let paths: (string | undefined)[];
    try {
      paths = def.paths(ev.data as never);
    } catch {
      return false; // data not in the declared shape: not provably inside the limits
    }
    for (const path of paths) {
      if (path === undefined) continue;
      const rel = normalizeRel(path);
      if (rel === undefined || !rule.allows(rel)) return false;
    }
    return true;
  };
}
