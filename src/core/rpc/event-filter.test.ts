import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compilePathRule, type Principal } from '../principal.js';
import { createEventVisibility, narrowPaths } from './event-filter.js';
import { defineEvent, type Scope } from './index.js';
import { MethodRegistry } from './method-registry.js';

const scopes = new Set<Scope>(['read']);
const owner: Principal = { id: 'owner', kind: 'owner', name: 'owner', scopes };
const unlimited: Principal = { id: 'agent:u', kind: 'agent', name: 'u', scopes };
const limited: Principal = { id: 'agent:l', kind: 'agent', name: 'l', scopes, paths: compilePathRule(['src/**']) };

function visibility() {
  const registry = new MethodRegistry();
  const batch = z.object({ paths: z.array(z.string()) });
  registry.registerEvents(
    defineEvent({ topic: 't.batch', description: 'd', data: batch, paths: (d) => d.paths, narrow: narrowPaths }),
    defineEvent({ topic: 't.whole', description: 'd', data: batch, paths: (d) => d.paths }),
    // A faulty narrow that keeps a path outside: the event is withheld, not leaked.
    defineEvent({ topic: 't.leaky', description: 'd', data: batch, paths: (d) => d.paths, narrow: (d) => ({ paths: [...d.paths] }) }),
  );
  return createEventVisibility(registry);
}

const ev = (topic: string, paths: string[]) => ({ topic, seq: 7, time: 1, source: { connectionId: 'c', kind: 'system', name: 'disk' }, data: { paths } });

describe('event visibility with narrowing', () => {
  it('hands the very same event to the owner, unlimited principals and when every path is allowed (shared encoding)', () => {
    const visible = visibility();
    const mixed = ev('t.batch', ['secret.txt', 'src/a.txt']);
    expect(visible(owner, mixed)).toBe(mixed);
    expect(visible(unlimited, mixed)).toBe(mixed);
    const inside = ev('t.batch', ['src/a.txt', 'src/b.txt']);
    expect(visible(limited, inside)).toBe(inside);
  });

  it('narrows a mixed batch to the allowed paths (same topic, seq, time, source), withholds one with none', () => {
    const visible = visibility();
    const mixed = ev('t.batch', ['secret.txt', 'src/a.txt', 'src/../secret2.txt']);
    const shown = visible(limited, mixed)!;
    expect(shown).not.toBe(mixed);
    expect(shown).toEqual({ ...mixed, data: { paths: ['src/a.txt'] } });
    expect(mixed.data.paths).toHaveLength(3); // the shared event is untouched
    expect(visible(limited, ev('t.batch', ['secret.txt']))).toBeUndefined();
  });

  it('withholds a mixed event whose definition has no narrow, or whose narrow keeps a path outside', () => {
    const visible = visibility();
    expect(visible(limited, ev('t.whole', ['secret.txt', 'src/a.txt']))).toBeUndefined();
    expect(visible(limited, ev('t.leaky', ['secret.txt', 'src/a.txt']))).toBeUndefined();
    expect(visible(limited, ev('t.undeclared', []))).toBeUndefined();
  });
});
