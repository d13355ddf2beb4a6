import { randomBytes, timingSafeEqual } from 'node:crypto';

export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * Constant-time token check. Only the token's length can be learnt from timing (generated tokens
 * have a fixed, public length); hashing both sides to hide it cost ~4% of a small REST request.
 */
export function createTokenVerifier(token: string): (candidate: string | undefined | null) => boolean {
  const expected = Buffer.from(token, 'utf8');
  return (candidate) => {
    if (typeof candidate !== 'string' || candidate.length === 0 || candidate.length > 4096) return false;
    const got = Buffer.from(candidate, 'utf8');
    return got.length === expected.length && timingSafeEqual(expected, got);
  };
}

/** Replace the value of any `token` query parameter, so URLs can be logged. */
export function redactToken(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}

const LOOPBACK_NAMES = new Set(['localhost', '::1', '[::1]']);
/** A canonical dotted quad (decimal octets 0-255, no leading zeros), as browsers send it. */
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Loopback by name alone, never by what some resolver answers: an IP literal in 127.0.0.0/8,
 * `[::1]` or `localhost`. A prefix test (`127.`) would pass `127.0.0.1.nip.io`, a public DNS name
 * an attacker can rebind; `*.localhost` is refused too, since only some resolvers pin it to loopback.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_NAMES.has(h) || (IPV4.test(h) && h.startsWith('127.'));
}

/** Host header → hostname without port ('[::1]:80' → '[::1]'); anything but `name[:digits]` is kept whole. */
export function hostnameOf(hostHeader: string): string {
  const h = hostHeader.toLowerCase();
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::\d*)?$/.exec(h);
  return m ? m[1]! : h;
}

/**
 * DNS-rebinding guard: when the server listens on loopback, the Host header must name a
 * loopback host (or one explicitly allowed). Servers bound elsewhere accept any Host.
 */
export function hostAllowed(hostHeader: string | undefined, boundToLoopback: boolean, allowedHosts: readonly string[]): boolean {
  if (!boundToLoopback) return true;
  if (!hostHeader) return false;
  const name = hostnameOf(hostHeader);
  if (isLoopbackHost(name)) return true;
  const whole = hostHeader.toLowerCase();
  return allowedHosts.some((a) => {
    const allowed = a.toLowerCase();
    return allowed === name || allowed === whole;
  });
}

/**
 * Cross-site WebSocket hijacking guard. No Origin header (CLI, agents, server-side clients) is
 * allowed; a browser Origin must be same-origin with the Host header or listed in allowedOrigins
 * ('*' allows any).
 */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined, allowedOrigins: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowedOrigins.includes('*') || allowedOrigins.includes(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return hostHeader !== undefined && url.host.toLowerCase() === hostHeader.toLowerCase();
}

/** The token of an `Authorization: Bearer T` header. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header);
  return m?.[1]?.trim();
}
