// Deterministic source-like text for bench/docs: the same (chars, seed) gives the same string in
// every process, so a client can check a synced document against what the file holds.

const WORDS = ['const', 'value', 'return', 'function', 'if', 'else', 'for', 'let', 'await', 'items', 'index', 'result', 'null', '=', '+', '(x)', '{', '}', ';', 'export', 'import'];

/** About 60-character lines of words, exactly `chars` UTF-16 code units (ASCII), ending in '\n'. */
export function sourceText(chars, seed = 1) {
  let s = seed >>> 0 || 1;
  const rand = () => {
    // xorshift32: fast, deterministic, good enough for word choice.
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  const parts = [];
  let n = 0;
  let line = 0;
  while (n < chars) {
    const w = line === 0 ? '  '.repeat(rand() % 4) + WORDS[rand() % WORDS.length] : ' ' + WORDS[rand() % WORDS.length];
    line += w.length;
    const piece = line >= 60 ? w + '\n' : w;
    if (line >= 60) line = 0;
    parts.push(piece);
    n += piece.length;
  }
  const text = parts.join('');
  return text.length > chars ? text.slice(0, chars - 1) + '\n' : text;
}
