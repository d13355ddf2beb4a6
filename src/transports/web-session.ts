import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../core/principal.js';
import { createTokenVerifier } from '../core/security.js';

/** Base name of the web workspace's session cookie (docs/protocol.md, "Authentication and browser safety"). */
export const SESSION_COOKIE = 'icpy_session';

/**
 * The cookie's name for a request's Host: `icpy_session_<port>` when the Host names a port, else
 * `icpy_session`. Browsers keep cookies per host, not per port, so two servers on `localhost`
 * under one name would overwrite each other's session; the Host's port is what the browser
 * connected to, so each server (or proxy address) gets its own slot.
 */
export function sessionCookieName(host: string | undefined): string {
  const port = host === undefined ? undefined : /:(\d{1,5})$/.exec(host)?.[1];
  return port === undefined ? SESSION_COOKIE : `${SESSION_COOKIE}_${port}`;
}

const MAC_LABEL = 'icpy-session:v1:';
/** 16 random bytes and a SHA-256 MAC, base64url: 22 and 43 characters. */
const VALUE = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
/** Cookies of that name looked at in one header (a jar may hold several: other paths, other ports). */
const MAX_CANDIDATES = 8;

/**
 * The owner's browser session: the printed `?token=` URL is exchanged once for a cookie
 * `<nonce>.<mac>`, mac = HMAC-SHA256(owner token, 'icpy-session:v1:' + nonce). Stateless: a server
 * restarted with the same token accepts the cookies it gave out; a new token invalidates them all.
 * The cookie is ambient (the browser attaches it by itself), so whoever accepts it must also apply
 * the cross-site rules (an allowed Origin on anything that changes state); see web-guard.ts and
 * ws-upgrade.ts.
 */
export interface WebSession {
  /** Whether `token` is the owner's (only the owner token is exchanged for a cookie). */
  isOwnerToken(token: string | undefined): boolean;
  /** A fresh cookie value. */
  mint(): string;
  /** The owner principal when the Cookie header holds a valid session cookie for this Host. */
  authenticate(cookieHeader: string | string[] | undefined, host: string | undefined): Principal | undefined;
}

export function createWebSession(ownerToken: string, owner: Principal): WebSession {
  const isOwner = createTokenVerifier(ownerToken);
  const macOf = (nonce: string) => createHmac('sha256', ownerToken).update(MAC_LABEL + nonce).digest();
  const valid = (value: string) => {
    const m = VALUE.exec(value);
    if (!m) return false;
    // Compare the text, not the decoded bytes: the last of 43 base64url characters carries only
    // 4 bits of the MAC, so four different spellings decode to the same bytes — a tampered cookie
    // would still pass a byte comparison.
    const got = Buffer.from(m[2]!, 'latin1');
    const want = Buffer.from(macOf(m[1]!).toString('base64url'), 'latin1');
    return got.length === want.length && timingSafeEqual(got, want);
  };
  return {
    isOwnerToken: (token) => isOwner(token),
    mint() {
      const nonce = randomBytes(16).toString('base64url');
      return `${nonce}.${macOf(nonce).toString('base64url')}`;
    },
    authenticate(header, host) {
      return sessionCookiesOf(header, sessionCookieName(host)).some(valid) ? owner : undefined;
    },
  };
}

/** Every value of cookie `name` in a Cookie header (at most a few), in order. */
export function sessionCookiesOf(header: string | string[] | undefined, name: string): string[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join('; ') : header;
  const out: string[] = [];
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    out.push(part.slice(eq + 1).trim());
    if (out.length === MAX_CANDIDATES) break;
  }
  return out;
}

/** `Set-Cookie` value giving the browser a session: HttpOnly, SameSite=Strict, Path=/, Secure on TLS. */
export function sessionSetCookie(value: string, secure: boolean, host: string | undefined): string {
  return `${sessionCookieName(host)}=${value}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`;
}

/** `Set-Cookie` value removing the session (logout). */
export function sessionClearCookie(secure: boolean, host: string | undefined): string {
  return `${sessionCookieName(host)}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}
