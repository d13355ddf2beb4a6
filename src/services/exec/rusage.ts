import { constants } from 'node:os';

/** GNU time's output format: elapsed, user s, system s, max RSS KiB, exit status. */
export const TIME_FORMAT = '%e %U %S %M %x';

export interface Rusage {
  cpuMs: number;
  maxRssKb: number;
  /** Set when the interpreter was killed by a signal (GNU time reports it; its own exit is then 128+n). */
  signal: NodeJS.Signals | null;
  exitCode: number | null;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([k, v]) => [v, k as NodeJS.Signals]));

/**
 * Parse what `time -f TIME_FORMAT -o FILE` wrote: optional "Command terminated by signal N" /
 * "Command exited with non-zero status N" lines, then the format line.
 */
export function parseRusage(text: string): Rusage | undefined {
  const lines = text.trim().split('\n');
  const last = lines[lines.length - 1]?.trim().split(/\s+/) ?? [];
  if (last.length !== 5 || last.some((f) => !/^\d+(\.\d+)?$/.test(f))) return undefined;
  const [, user, sys, rss, status] = last.map(Number) as [number, number, number, number, number];
  const sig = /terminated by signal (\d+)/.exec(text);
  const signal = sig ? (SIGNAL_NAMES.get(Number(sig[1])) ?? null) : null;
  return { cpuMs: Math.round((user + sys) * 1000), maxRssKb: rss, signal, exitCode: sig ? null : status };
}
