import { describe, expect, it } from 'vitest';
import { DETACH_PREFIX, DetachKeyFilter } from './terminal-attach.js';

describe('detach key (Ctrl-] d)', () => {
  const feed = (f: DetachKeyFilter, s: string) => {
    const r = f.feed(Buffer.from(s, 'latin1'));
    return { send: r.send.toString('latin1'), detach: r.detach };
  };
  const P = String.fromCharCode(DETACH_PREFIX);

  it('passes ordinary keys through', () => {
    expect(feed(new DetachKeyFilter(), 'ls -l\r\x03')).toEqual({ send: 'ls -l\r\x03', detach: false });
  });

  it('detaches on Ctrl-] d, also when split across reads, keeping what came before', () => {
    expect(feed(new DetachKeyFilter(), `ab${P}d`)).toEqual({ send: 'ab', detach: true });
    const f = new DetachKeyFilter();
    expect(feed(f, `x${P}`)).toEqual({ send: 'x', detach: false });
    expect(feed(f, 'd')).toEqual({ send: '', detach: true });
  });

  it('Ctrl-] Ctrl-] sends one Ctrl-]; Ctrl-] then another key sends both', () => {
    expect(feed(new DetachKeyFilter(), `${P}${P}`)).toEqual({ send: P, detach: false });
    expect(feed(new DetachKeyFilter(), `${P}x`)).toEqual({ send: `${P}x`, detach: false });
  });
});
