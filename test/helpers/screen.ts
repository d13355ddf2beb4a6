/**
 * A minimal VT screen for tests: enough of xterm to know what a user would see after a stream of
 * output (printable text, CR, LF, BS, cursor moves, erase in display/line, scrolling). Other
 * escape sequences (colours, modes, OSC titles) are parsed and ignored. Wide characters count as
 * one cell; that is fine for asserting which text is on screen.
 */
export class Screen {
  private cells: string[][];
  private row = 0;
  private col = 0;
  private pending = '';

  constructor(
    readonly cols: number,
    readonly rows: number,
  ) {
    this.cells = Array.from({ length: rows }, () => this.blankLine());
  }

  private blankLine(): string[] {
    return Array.from({ length: this.cols }, () => ' ');
  }

  /** The visible lines, trailing spaces trimmed. */
  lines(): string[] {
    return this.cells.map((l) => l.join('').trimEnd());
  }

  text(): string {
    return this.lines().join('\n');
  }

  write(data: string): void {
    const s = this.pending + data;
    this.pending = '';
    let i = 0;
    while (i < s.length) {
      const ch = s[i]!;
      if (ch === '\x1b') {
        const n = this.escape(s, i);
        if (n < 0) {
          this.pending = s.slice(i); // incomplete sequence: wait for the rest
          return;
        }
        i = n;
        continue;
      }
      if (ch === '\r') this.col = 0;
      else if (ch === '\n') this.lineFeed();
      else if (ch === '\b') this.col = Math.max(0, this.col - 1);
      else if (ch === '\t') this.col = Math.min(this.cols - 1, (Math.floor(this.col / 8) + 1) * 8);
      else if (ch >= ' ' && ch !== '\x7f') this.put(ch);
      i++;
    }
  }

  private put(ch: string): void {
    if (this.col >= this.cols) {
      this.col = 0;
      this.lineFeed();
    }
    this.cells[this.row]![this.col++] = ch;
  }

  private lineFeed(): void {
    if (this.row === this.rows - 1) {
      this.cells.shift();
      this.cells.push(this.blankLine());
    } else this.row++;
  }

  /** Handle the sequence starting at s[i] (ESC); return the index after it, or -1 if incomplete. */
  private escape(s: string, i: number): number {
    const next = s[i + 1];
    if (next === undefined) return -1;
    if (next === '[') {
      let j = i + 2;
      while (j < s.length && !/[\x40-\x7e]/.test(s[j]!)) j++;
      if (j >= s.length) return -1;
      this.csi(s.slice(i + 2, j), s[j]!);
      return j + 1;
    }
    if (next === ']') {
      for (let j = i + 2; j < s.length; j++) {
        if (s[j] === '\x07') return j + 1;
        if (s[j] === '\x1b' && s[j + 1] === '\\') return j + 2;
      }
      return -1;
    }
    if (next === 'c') {
      this.cells = Array.from({ length: this.rows }, () => this.blankLine());
      this.row = this.col = 0;
    }
    return i + 2;
  }

  private csi(params: string, final: string): void {
    if (params.startsWith('?') || params.startsWith('>')) return; // private modes: ignored
    const p = params.split(';').map((x) => (x === '' ? undefined : Number(x)));
    const n = p[0] ?? 1;
    switch (final) {
      case 'H':
      case 'f':
        this.row = Math.min(this.rows - 1, (p[0] ?? 1) - 1);
        this.col = Math.min(this.cols - 1, (p[1] ?? 1) - 1);
        break;
      case 'A':
        this.row = Math.max(0, this.row - n);
        break;
      case 'B':
        this.row = Math.min(this.rows - 1, this.row + n);
        break;
      case 'C':
        this.col = Math.min(this.cols - 1, this.col + n);
        break;
      case 'D':
        this.col = Math.max(0, this.col - n);
        break;
      case 'G':
        this.col = Math.min(this.cols - 1, n - 1);
        break;
      case 'J': {
        const mode = p[0] ?? 0;
        if (mode === 2 || mode === 3) this.cells = Array.from({ length: this.rows }, () => this.blankLine());
        else if (mode === 0) {
          this.cells[this.row]!.fill(' ', this.col);
          for (let r = this.row + 1; r < this.rows; r++) this.cells[r] = this.blankLine();
        }
        break;
      }
      case 'K': {
        const mode = p[0] ?? 0;
        if (mode === 0) this.cells[this.row]!.fill(' ', this.col);
        else if (mode === 2) this.cells[this.row] = this.blankLine();
        break;
      }
    }
  }
}
