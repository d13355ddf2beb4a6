// Small helpers shared by the benchmarks (not a benchmark itself: run-all only runs bench/*.mjs).
import { readFileSync } from 'node:fs';

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Percentile (0-100) of a numeric array or typed array, nearest-rank. */
export function percentile(xs, p) {
  const s = Float64Array.from(xs).sort();
  if (!s.length) return NaN;
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank];
}

/** Round to `d` significant-ish decimals for printing. */
export function round(x, d = 2) {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** Print one figure as one JSON line on stdout. */
export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** Wall-clock milliseconds comparable across processes on one machine. */
export function nowMs() {
  return performance.timeOrigin + performance.now();
}

/**
 * CPU-steal meter (Linux /proc/stat): `const m = stealMeter(); …; m()` → percent of the
 * machine's CPU time stolen by the hypervisor since the meter started (undefined elsewhere).
 * Printed beside latency figures: on a shared VM, steal explains a p99 that no code change does.
 */
export function stealMeter() {
  const read = () => {
    try {
      const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
      return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
    } catch {
      return undefined;
    }
  };
  const a = read();
  return () => {
    const b = read();
    if (!a || !b || b.total === a.total) return undefined;
    return round((100 * (b.steal - a.steal)) / (b.total - a.total), 1);
  };
}
