/** Human and machine output. Colour only when stdout is a TTY and NO_COLOR is unset. */
export interface Output {
  json: boolean;
  color: boolean;
  /** Print a line to stdout. */
  line(text?: string): void;
  /** Print a value as one compact JSON line (machine output). */
  jsonLine(value: unknown): void;
  /** Print a table; columns are taken from the first row's keys unless given. */
  table(rows: Record<string, unknown>[], columns?: string[]): void;
  dim(s: string): string;
  bold(s: string): string;
  red(s: string): string;
  green(s: string): string;
}

export function createOutput(json: boolean, stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Output {
  const color = !json && stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
  const wrap = (open: number, close: number) => (s: string) => (color ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  const out: Output = {
    json,
    color,
    line: (text = '') => void stream.write(text + '\n'),
    jsonLine: (value) => void stream.write(JSON.stringify(value) + '\n'),
    table(rows, columns) {
      const cols = columns ?? Object.keys(rows[0] ?? {});
      if (!rows.length) return;
      const cells = rows.map((r) => cols.map((c) => cellText(r[c])));
      const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
      const fmt = (row: string[]) => row.map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
      out.line(out.bold(fmt(cols.map((c) => c.toUpperCase()))));
      for (const row of cells) out.line(fmt(row));
    },
    dim: wrap(2, 22),
    bold: wrap(1, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
  };
  return out;
}

function cellText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v.replace(/[\r\n\t]+/g, ' ');
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** Human-readable size (1.2K, 3.4M). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n}`;
  const units = ['K', 'M', 'G', 'T'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** Time since `ms` (epoch) in a short form: 5s, 3m, 2h, 4d. */
export function formatAge(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
