import { describe, expect, it } from 'vitest';
import { createTokenVerifier, hostAllowed, originAllowed, redactToken } from './security.js';

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
    expect(hostAllowed('app.localhost:8000', true, [])).toBe(true);
    expect(hostAllowed('evil.example:8000', true, [])).toBe(false);
    expect(hostAllowed(undefined, true, [])).toBe(false);
    expect(hostAllowed('box.lan:8000', true, ['box.lan'])).toBe(true);
    expect(hostAllowed('evil.example', false, [])).toBe(true);
  });

  it('redacts token query values', () => {
    expect(redactToken('/api/ws?kind=cli&token=abc123&name=x')).toBe('/api/ws?kind=cli&token=[redacted]&name=x');
  });
});
