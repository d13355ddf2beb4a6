import { describe, expect, it } from 'vitest';
import { findTooDeep, inspectValue, nested } from './value-depth.js';

describe('findTooDeep', () => {
  it('measures containers, not primitives', () => {
    expect(findTooDeep(5, 0)).toBeUndefined();
    expect(findTooDeep('x'.repeat(1000), 1)).toBeUndefined();
    expect(findTooDeep({}, 1)).toBeUndefined();
    expect(findTooDeep({ a: [1] }, 2)).toBeUndefined();
    expect(findTooDeep({ a: [1] }, 1)).toEqual(['a']);
    expect(findTooDeep({ a: 1, b: { c: [0, [1]] } }, 3)).toEqual(['b', 'c', 1]);
  });

  it('walks a value nested 100,000 deep without overflowing, naming the path at the bound', () => {
    const deep = nested(100_000, 0, 'x');
    const path = findTooDeep(deep, 64)!;
    expect(path).toHaveLength(64);
    expect(path.every((k) => k === 'x')).toBe(true);
    expect(findTooDeep(nested(64), 64)).toBeUndefined();
    expect(findTooDeep(nested(65), 64)).toHaveLength(64);
  });

  it('reports a cycle as too deep', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(findTooDeep(a, 10)).toHaveLength(10);
  });
});

describe('inspectValue', () => {
  it('bounds the encoded bytes of plain values from above, and flags what JSON.stringify might choke on', () => {
    const samples: unknown[] = ['', 'é\u0000"\\', 12.5e-300, [1, 'two', { three: [null, true] }], { 'k\n': 'ü'.repeat(50), n: -1 }, Object.create(null), { s: '\u2028"\u0001', b: false, z: null, u: undefined, n: -1.2345678901234567e-308, f: () => 1 }, Object.assign(Object.create(null), { 'é': 'é' })];
    for (const v of samples) {
      const shape = inspectValue(v, 64);
      expect(shape.plain).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(v))).toBeLessThanOrEqual(shape.maxBytes);
    }
    expect(inspectValue({ a: 1n }, 64).plain).toBe(false);
    expect(inspectValue({ when: new Date() }, 64).plain).toBe(false);
    expect(inspectValue([Buffer.from('x')], 64).plain).toBe(false);
  });
});
