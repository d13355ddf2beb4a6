import { describe, expect, it } from 'vitest';
import { createTokenVerifier, hostAllowed, isLoopbackHost, originAllowed, redactToken } from './security.js';

describe('security helpers', () => {
  it('verifies the token exactly', () => {
    const v = createTokenVerifier('s3cret-token');
    expect(v('s3cret-token')).toBe(true);
    for (const bad of ['s3cret-tokeN', 's3cret-token ', 's3cret', '', undefined, null, 'x'.repeat(5000), 's3cret-tokén']) expect(v(bad)).toBe(false);
  });

  it('checks Origin against Host and the allow-list', () => {
    expect(originAllowed(undefined, 'localhost:8000', [])).toBe(true);
    expect(originAllowed('http://localhost:8000', 'localhost:8000', [])).toBe(true);
    expect(originAllowed('http://localhost:8001', 'localhost:8000', [])).toBe(false);
    expect(originAllowed('https://evil.example', 'localhost:8000', [])).toBe(false);
    expect(originAllowed('https://ide.example', 'localhost:8000', ['https://ide.example'])).toBe(true);
    expect(originAllowed('file://', 'localhost:8000', [])).toBe(false);
  });

  it('checks Host only when bound to loopback', () => {
    expect(hostAllowed('127.0.0.1:8000', true, [])).toBe(true);
    expect(hostAllowed('[::1]:8000', true, [])).toBe(true);
    expect(hostAllowed('localhost:8000', true, [])).toBe(true);
    expect(hostAllowed('LOCALHOST', true, [])).toBe(true);
    expect(hostAllowed('127.255.3.4:1', true, [])).toBe(true);
    expect(hostAllowed('evil.example:8000', true, [])).toBe(false);
    expect(hostAllowed(undefined, true, [])).toBe(false);
    expect(hostAllowed('box.lan:8000', true, ['box.lan'])).toBe(true);
    expect(hostAllowed('evil.example', false, [])).toBe(true);
  });

  it('takes loopback only from IP literals and localhost, never from a name that starts like one (DNS rebinding)', () => {
    for (const bad of [
      '127.0.0.1.nip.io:8000',
      '127.attacker.example',
      '127.0.0.1.',
      '127.0.0.1.evil.example:80',
      '127.0.0.256',
      '127.0.0.01',
      '127.1',
      '128.0.0.1',
      'app.localhost:8000',
      'localhost.evil.example',
      'localhost.',
      '[::1].evil.example',
      '[::2]:80',
      '',
    ]) {
      expect(hostAllowed(bad, true, []), bad).toBe(false);
    }
    expect(hostAllowed('Box.LAN:8000', true, ['box.lan'])).toBe(true);
    expect(hostAllowed('box.lan:8000', true, ['BOX.LAN:8000'])).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    // Same-origin is judged against the Host header, so a rebinding Origin fails with a loopback Host.
    expect(originAllowed('http://127.attacker.example', '127.0.0.1:8000', [])).toBe(false);
  });

  it('redacts token query values', () => {
    expect(redactToken('/api/ws?kind=cli&token=abc123&name=x')).toBe('/api/ws?kind=cli&token=[redacted]&name=x');
  });
});
