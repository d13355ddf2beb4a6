import { describe, expect, it } from 'vitest';
import { ownerPrincipal } from '../core/principal.js';
import { createWebSession, sessionClearCookie, sessionCookieName, sessionCookiesOf, sessionSetCookie } from './web-session.js';

describe('web session cookie', () => {
  const owner = ownerPrincipal();

  it('a minted value verifies with the same token only', () => {
    const a = createWebSession('token-a', owner);
    const value = a.mint();
    expect(value).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(a.authenticate(`icpy_session=${value}`, undefined)).toBe(owner);
    expect(createWebSession('token-a', owner).authenticate(`icpy_session=${value}`, undefined)).toBe(owner);
    expect(createWebSession('token-b', owner).authenticate(`icpy_session=${value}`, undefined)).toBeUndefined();
  });

  it('tampered, malformed and missing values are refused', () => {
    const s = createWebSession('t', owner);
    const [nonce, mac] = s.mint().split('.') as [string, string];
    const flip = (x: string) => x.slice(0, -1) + (x.endsWith('A') ? 'B' : 'A');
    for (const header of [undefined, '', 'icpy_session=', `icpy_session=${flip(nonce)}.${mac}`, `icpy_session=${nonce}.${flip(mac)}`, `icpy_session=${nonce}`, `icpy_session=t`, `ICPY_SESSION=${nonce}.${mac}`]) {
      expect(s.authenticate(header, undefined), String(header)).toBeUndefined();
    }
  });

  it('no other spelling of the MAC passes, not even one that decodes to the same bytes', () => {
    const s = createWebSession('t', owner);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let round = 0; round < 20; round++) {
      const [nonce, mac] = s.mint().split('.') as [string, string];
      for (const c of alphabet) {
        if (c === mac.at(-1)) continue;
        // The last of 43 characters carries 4 bits; 3 other characters decode to the same MAC bytes.
        expect(s.authenticate(`icpy_session=${nonce}.${mac.slice(0, -1)}${c}`, undefined), c).toBeUndefined();
      }
    }
  });

  it('finds the cookie among others, several of the same name, and in header arrays (bounded)', () => {
    expect(sessionCookiesOf('a=1; icpy_session=x; b=2;icpy_session=y', 'icpy_session')).toEqual(['x', 'y']);
    expect(sessionCookiesOf(['a=1', 'icpy_session=z'], 'icpy_session')).toEqual(['z']);
    expect(sessionCookiesOf(Array.from({ length: 100 }, (_, i) => `icpy_session=${i}`).join('; '), 'icpy_session')).toHaveLength(8);
    const s = createWebSession('t', owner);
    expect(s.authenticate(`icpy_session=stale; other=1; icpy_session=${s.mint()}`, undefined)).toBe(owner);
  });

  it('the name follows the Host port, so two servers on localhost keep separate sessions', () => {
    expect(sessionCookieName('localhost:8123')).toBe('icpy_session_8123');
    expect(sessionCookieName('127.0.0.1:9000')).toBe('icpy_session_9000');
    expect(sessionCookieName('[::1]:8123')).toBe('icpy_session_8123');
    expect(sessionCookieName('ide.example.com')).toBe('icpy_session');
    expect(sessionCookieName('[::1]')).toBe('icpy_session');
    expect(sessionCookieName(undefined)).toBe('icpy_session');
    expect(sessionSetCookie('v', false, 'localhost:8123')).toBe('icpy_session_8123=v; HttpOnly; SameSite=Strict; Path=/');
    expect(sessionClearCookie(false, 'localhost:8123')).toBe('icpy_session_8123=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0');
    // Same token, two ports: each server reads only its own slot.
    const s = createWebSession('t', owner);
    const value = s.mint();
    expect(s.authenticate(`icpy_session_8123=${value}`, 'localhost:8123')).toBe(owner);
    expect(s.authenticate(`icpy_session_8123=${value}`, 'localhost:8124')).toBeUndefined();
    expect(s.authenticate(`icpy_session=${value}`, 'localhost:8123')).toBeUndefined();
    expect(s.authenticate(`icpy_session_81234=${value}`, 'localhost:8123')).toBeUndefined();
  });

  it('Set-Cookie attributes', () => {
    expect(sessionSetCookie('v', false, undefined)).toBe('icpy_session=v; HttpOnly; SameSite=Strict; Path=/');
    expect(sessionSetCookie('v', true, undefined)).toBe('icpy_session=v; HttpOnly; SameSite=Strict; Path=/; Secure');
    expect(sessionClearCookie(false, undefined)).toBe('icpy_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0');
  });

  it('only the owner token is exchanged', () => {
    const s = createWebSession('owner-token', owner);
    expect(s.isOwnerToken('owner-token')).toBe(true);
    expect(s.isOwnerToken('owner-tokeN')).toBe(false);
    expect(s.isOwnerToken(undefined)).toBe(false);
  });
});
