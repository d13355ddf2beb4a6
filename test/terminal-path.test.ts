import { delimiter, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer } from './helpers/server.js';

const REPO = resolve(__dirname, '..');

describe('icpy is on PATH in icpy terminals', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => s.close());

  it('`icpy --version` and `icpy status` work in a terminal created through the API', async () => {
    const c = await connect(s);
    // The PATH a user's shell has: no node_modules/.bin (which vitest's runner puts on ours).
    const PATH = (process.env.PATH ?? '').split(delimiter).filter((p) => !p.includes('node_modules')).join(delimiter);
    const t = await c.call('terminal.create', {
      shell: '/bin/bash',
      args: ['--norc', '--noprofile'],
      env: { PS1: '$ ', HISTFILE: '/dev/null', PATH, ICPY_URL: s.url, ICPY_TOKEN: s.token },
      cols: 200,
      rows: 24,
    });
    await c.call('terminal.attach', { id: t.id, since: 0 });
    await c.call('terminal.write', {
      id: t.id,
      data: 'echo "WHERE=$(command -v icpy)"; icpy --version; icpy status --json >/dev/null; echo "STATUS=$?"\r',
    });
    const text = () =>
      c.notifications
        .filter((n) => n.method === 'terminal.output' && n.params.id === t.id)
        .map((n) => n.params.data)
        .join('');
    await c.waitFor(() => /STATUS=\d/.test(text()), 15_000, 'the commands to finish');
    expect(text()).toContain(`WHERE=${REPO}/bin/path/icpy`);
    expect(text()).toMatch(/icpy \d+\.\d+\.\d+/);
    expect(text()).toContain('STATUS=0');
    await c.call('terminal.close', { id: t.id });
    await c.close();
  });
});
