import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_TABLE } from '../src/core/errors.js';
import { startServer, type TestServer } from './helpers/server.js';

/** docs/protocol.md (with docs/protocol/*.md) must name every method, event and error code. */
describe('docs/protocol.md stays true', () => {
  let s: TestServer;
  let text: string;
  beforeAll(async () => {
    s = await startServer();
    const dir = join(__dirname, '..', 'docs');
    text = readFileSync(join(dir, 'protocol.md'), 'utf8');
    try {
      for (const f of readdirSync(join(dir, 'protocol'))) text += readFileSync(join(dir, 'protocol', f), 'utf8');
    } catch {
      /* no per-domain pages yet */
    }
  });
  afterAll(async () => {
    await s.close();
  });

  it('documents every registered method', () => {
    const missing = s.app.registry.list().map((m) => m.name).filter((n) => !text.includes('`' + n));
    expect(missing).toEqual([]);
  });

  it('documents every declared event', () => {
    const missing = s.app.registry.listEvents().map((e) => e.topic).filter((t) => !text.includes('`' + t));
    expect(missing).toEqual([]);
  });

  it('documents every error code with its numbers', () => {
    const missing = Object.entries(ERROR_TABLE)
      .filter(([code, v]) => !new RegExp('`' + code + '`\\s*\\|\\s*' + v.rpc + '\\s*\\|\\s*' + v.http).test(text))
      .map(([c]) => c);
    expect(missing).toEqual([]);
  });
});
