import { normalizeRel, type Principal } from '../principal.js';
import type { EventDefinition } from './method.js';
import type { MethodRegistry } from './method-registry.js';

/** What the filter needs of an event: its topic and data (a broker event, an event notification). */
export interface FilterableEvent {
  readonly topic: string;
  readonly data: unknown;
}

/**
 * What of this event may this principal receive? (issue 13) A principal without path limits
 * receives every event its scopes allow. A path-limited one receives an event only when its
 * topic is declared (exactly, or by a `{placeholder}` segment matching one topic segment) and the
 * declaration is `pathFree` or every path its `paths(data)` names is inside the limits; when some
 * are outside and the declaration has `narrow`, it receives a copy whose data holds only its
 * paths. So an undeclared topic (`client.*` from events.emit) and a declared one without a path
 * rule are not delivered: closed by default, like methods.
 *
 * Returns `ev` itself to deliver it as is (the caller may reuse the event's shared encoding), a
 * copy of it differing only in `data` to deliver that (encode it for this subscriber), or
 * undefined to withhold it.
 */
export type EventVisibility = <E extends FilterableEvent>(principal: Principal, ev: E) => E | undefined;

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
  return <E extends FilterableEvent>(principal: Principal, ev: E): E | undefined => {
    const rule = principal.paths;
    if (!rule && principal.kind === 'owner') return ev;
    const def = definitionOf(ev.topic);
    if (def?.ownerOnly && principal.kind !== 'owner') return undefined;
    if (!rule) return ev;
    if (!def) return undefined;
    if (def.pathFree) return ev;
    if (!def.paths) return undefined;
    const allows = (path: string): boolean => {
      const rel = normalizeRel(path);
      return rel !== undefined && rule.allows(rel);
    };
    const whole = allInside(def, ev.data, allows);
    if (whole) return ev;
    if (whole === undefined || !def.narrow) return undefined;
    let data: unknown;
    try {
      data = def.narrow(ev.data as never, allows);
    } catch {
      return undefined;
    }
    // The narrowed copy must itself pass, so a narrow that keeps a path outside withholds.
    return data !== undefined && allInside(def, data, allows) ? { ...ev, data } : undefined;
  };
}

/** Every path the event names is allowed: true / false, undefined when data is not in the declared shape. */
function allInside(def: EventDefinition, data: unknown, allows: (path: string) => boolean): boolean | undefined {
  let paths: (string | undefined)[];
  try {
    paths = def.paths!(data as never);
  } catch {
    return undefined; // not provably inside the limits
  }
  for (const path of paths) if (path !== undefined && !allows(path)) return false;
  return true;
}

/** `narrow` for data whose `paths` lists what it is about (a watcher batch): only the allowed ones, none = withheld. */
export function narrowPaths<D extends { paths: string[] }>(data: D, allows: (path: string) => boolean): D | undefined {
  const paths = data.paths.filter(allows);
  return paths.length ? { ...data, paths } : undefined;
}
