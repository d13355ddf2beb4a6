import { describe, expect, it } from 'vitest';
import { SYSTEM_SOURCE } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import { READ_ONLY_SCOPES } from '../../core/principal.js';
import { CredentialService, type CredentialStore, type StoredCredentialRow } from './credential-service.js';
import { parseExpiresIn } from './expires-in.js';

function memoryStore(): CredentialStore & { rows: Map<string, StoredCredentialRow> } {
  const rows = new Map<string, StoredCredentialRow>();
  return { rows, load: () => [...rows.values()], insert: (r) => void rows.set(r.id, r), delete: (id) => void rows.delete(id) };
}

function service(opts: Partial<ConstructorParameters<typeof CredentialService>[0]> & { store?: ReturnType<typeof memoryStore> } = {}) {
  const events: { topic: string; data: any }[] = [];
  const ended: [string, string][] = [];
  const store = opts.store ?? memoryStore();
  const svc = new CredentialService({
    store,
    broker: { publish: (topic: string, data: unknown) => void events.push({ topic, data }) } as any,
    onEnd: (id, why) => void ended.push([id, why]),
    ...opts,
  });
  return { svc, events, ended, store };
}

const err = (fn: () => unknown): IcpyError => {
  try {
    fn();
  } catch (e) {
    return e as IcpyError;
  }
  throw new Error('expected a throw');
};

describe('CredentialService', () => {
  it('mints icpy_agent_<id>_<secret>, authenticates it to an agent principal, and survives a restart from the store', () => {
    const { svc, store, events } = service();
    const c = svc.create({ name: 'bot', scopes: ['read', 'write'], paths: ['src/**'] }, SYSTEM_SOURCE);
    expect(c.token).toMatch(/^icpy_agent_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const p = svc.authenticate(c.token)!;
    expect(p).toMatchObject({ id: `agent:${c.id}`, kind: 'agent', name: 'bot' });
    expect([...p.scopes]).toEqual(['read', 'write']);
    expect(p.paths!.allows('src/a.ts')).toBe(true);
    expect(p.paths!.allows('docs/a.md')).toBe(false);
    expect(JSON.stringify([...store.rows.values()])).not.toContain(c.token.split('_').pop());
    expect(JSON.stringify(events)).not.toContain(c.token);
    const again = service({ store });
    expect(again.svc.authenticate(c.token)?.name).toBe('bot');
    again.svc.dispose();
    svc.dispose();
  });

  it('refuses a wrong secret, a forged id, garbage and overlong tokens', () => {
    const { svc } = service();
    const c = svc.create({ name: 'bot', scopes: ['read'] }, SYSTEM_SOURCE);
    const secret = c.token.slice(`icpy_agent_${c.id}_`.length);
    // One character changed (never to itself: a secret ends in 'A' one time in 64).
    const other = secret.endsWith('A') ? 'B' : 'A';
    expect(svc.authenticate(`icpy_agent_${c.id}_${secret.slice(0, -1)}${other}`)).toBeUndefined();
    expect(svc.authenticate(`icpy_agent_${c.id}_`)).toBeUndefined();
    expect(svc.authenticate(`icpy_agent_0000000000000000_${secret}`)).toBeUndefined();
    expect(svc.authenticate(`icpy_agent_${c.id}`)).toBeUndefined();
    expect(svc.authenticate(c.token + 'x'.repeat(300))).toBeUndefined();
    expect(svc.authenticate(undefined)).toBeUndefined();
    svc.dispose();
  });

  it('bounds names (pattern, unique among live), scopes, paths, expiresIn and the number of credentials', () => {
    const { svc } = service({ maxCredentials: 2 });
    expect(err(() => svc.create({ name: '-x', scopes: ['read'] }, SYSTEM_SOURCE)).data).toMatchObject({ field: 'name' });
    expect(err(() => svc.create({ name: 'a'.repeat(65), scopes: ['read'] }, SYSTEM_SOURCE)).data).toMatchObject({ field: 'name' });
    expect(err(() => svc.create({ name: 'x', scopes: [] }, SYSTEM_SOURCE)).data).toMatchObject({ field: 'scopes' });
    expect(err(() => svc.create({ name: 'x', scopes: ['read'], paths: ['../up'] }, SYSTEM_SOURCE)).data).toMatchObject({ field: 'paths' });
    expect(err(() => svc.create({ name: 'x', scopes: ['read'], expiresIn: 'soon' }, SYSTEM_SOURCE)).data).toMatchObject({ field: 'expiresIn' });
    svc.create({ name: 'x', scopes: ['read'] }, SYSTEM_SOURCE);
    expect(err(() => svc.create({ name: 'x', scopes: ['read'] }, SYSTEM_SOURCE)).data).toMatchObject({ field: 'name' });
    svc.create({ name: 'y', scopes: ['read'] }, SYSTEM_SOURCE);
    const full = err(() => svc.create({ name: 'z', scopes: ['read'] }, SYSTEM_SOURCE));
    expect(full.code).toBe('LIMIT_EXCEEDED');
    expect(full.data).toMatchObject({ limit: 'maxCredentials', max: 2 });
    svc.revoke({ name: 'x' }, SYSTEM_SOURCE);
    svc.create({ name: 'x', scopes: ['read'] }, SYSTEM_SOURCE); // the name is free again
    svc.dispose();
  });

  it('a --read-only server caps every credential at read (admin included)', () => {
    const { svc } = service({ ceiling: READ_ONLY_SCOPES });
    const c = svc.create({ name: 'adm', scopes: ['admin'] }, SYSTEM_SOURCE);
    expect([...svc.authenticate(c.token)!.scopes]).toEqual(['read']);
    svc.dispose();
  });

  it('revocation and expiry end the credential and tell onEnd; the revoked event names why and never carries the token', () => {
    let now = 1_000_000;
    const { svc, ended, events } = service({ now: () => now });
    const a = svc.create({ name: 'a', scopes: ['read'] }, SYSTEM_SOURCE);
    const b = svc.create({ name: 'b', scopes: ['read'], expiresIn: '30m' }, SYSTEM_SOURCE);
    expect(svc.revoke({ id: a.id }, SYSTEM_SOURCE).name).toBe('a');
    expect(svc.authenticate(a.token)).toBeUndefined();
    expect(err(() => svc.revoke({ id: a.id }, SYSTEM_SOURCE)).code).toBe('CREDENTIAL_NOT_FOUND');
    now += 30 * 60_000;
    expect(svc.authenticate(b.token)).toBeUndefined();
    expect(ended).toEqual([
      [`agent:${a.id}`, 'revoked'],
      [`agent:${b.id}`, 'expired'],
    ]);
    expect(events.filter((e) => e.topic === 'agents.token.revoked').map((e) => e.data.reason)).toEqual(['revoked', 'expired']);
    expect(svc.list()).toEqual([]);
    svc.dispose();
  });

  it('parses durations', () => {
    expect(parseExpiresIn('30m')).toBe(1_800_000);
    expect(parseExpiresIn('12h')).toBe(43_200_000);
    expect(parseExpiresIn('7d')).toBe(604_800_000);
    expect(parseExpiresIn('1500')).toBe(1500);
    expect(parseExpiresIn(250)).toBe(250);
    for (const bad of ['0', '-1', '1w', '400d', '', 1.5, 0]) expect(() => parseExpiresIn(bad as string)).toThrow(/expiresIn/);
  });
});
