import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { SYSTEM_SOURCE, type Broker, type EventSource } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import { ALL_SCOPES, compilePathRule, type PathRule, type Principal } from '../../core/principal.js';
import { SCOPES, type Scope } from '../../core/rpc/index.js';
import { parseExpiresIn } from './expires-in.js';

/** The port to where credentials persist (storage/sqlite-credentials.ts in the app). */
export interface CredentialStore {
  load(): StoredCredentialRow[];
  insert(row: StoredCredentialRow): void;
  delete(id: string): void;
}

export interface StoredCredentialRow {
  id: string;
  name: string;
  /** SHA-256 of the token's secret part, hex. The secret itself is never stored. */
  secretHash: string;
  scopes: string[];
  paths: string[] | undefined;
  createdAt: number;
  expiresAt: number | undefined;
}

/** A credential as `agents.tokens.list` shows it: never the token or its hash. */
export interface CredentialSummary {
  id: string;
  name: string;
  scopes: Scope[];
  paths: string[] | null;
  createdAt: number;
  expiresAt: number | null;
}

export interface CreatedCredential extends CredentialSummary {
  /** `icpy_agent_<id>_<secret>`: shown once, here. */
  token: string;
}

/** Why a credential stopped authenticating. */
export type CredentialEnd = 'revoked' | 'expired';

export interface CredentialServiceOptions {
  store: CredentialStore;
  broker: Pick<Broker, 'publish'>;
  /** Live credentials at most; one more is LIMIT_EXCEEDED. */
  maxCredentials?: number;
  /**
   * What the server token grants: an agent never gets more (with --read-only, a credential made
   * with write acts read-only). Default all scopes.
   */
  ceiling?: ReadonlySet<Scope>;
  /** The credential no longer authenticates: close the connections of `principalId` (within a second). */
  onEnd?: (principalId: string, why: CredentialEnd) => void;
  now?: () => number;
}

export const DEFAULT_MAX_CREDENTIALS = 256;
export const TOKEN_PREFIX = 'icpy_agent_';
export const CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Random bytes in a token's secret (base64url: 43 characters). */
const SECRET_BYTES = 32;
const ID_PATTERN = /^[0-9a-f]{16}$/;
/** setTimeout's largest delay; a later expiry re-arms the timer when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Longer tokens are refused without hashing (bounded work per request). */
const MAX_TOKEN_LENGTH = 256;

interface Live {
  row: StoredCredentialRow;
  hash: Buffer;
  principal: Principal;
}

/**
 * Agent credentials (issue 13): named tokens `icpy_agent_<id>_<secret>` with scopes, optional
 * path globs and an optional expiry. Only a SHA-256 of each secret is kept (SQLite, via the
 * store); the live set is held in memory as well so `authenticate` is synchronous and constant
 * time in the secret. Revocation and expiry end a credential at once: it stops authenticating
 * and `onEnd` closes its open connections.
 */
export class CredentialService implements Disposable {
  private readonly live = new Map<string, Live>();
  private readonly max: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(private readonly opts: CredentialServiceOptions) {
    this.max = opts.maxCredentials ?? DEFAULT_MAX_CREDENTIALS;
    this.now = opts.now ?? Date.now;
    for (const row of opts.store.load()) {
      try {
        this.live.set(row.id, this.toLive(row));
      } catch {
        // A row this version cannot read (hand-edited) authenticates nobody; drop it.
        opts.store.delete(row.id);
      }
    }
    this.expireDue();
  }

  create(input: { name: string; scopes: Scope[]; paths?: string[]; expiresIn?: string | number }, source: EventSource): CreatedCredential {
    this.expireDue();
    if (!CREDENTIAL_NAME.test(input.name)) {
      throw new IcpyError('INVALID_PARAMS', `name: '${input.name.slice(0, 80)}' is not a credential name (a letter or digit, then up to 63 of A-Z a-z 0-9 _ . -)`, {
        field: 'name',
      });
    }
    if ([...this.live.values()].some((l) => l.row.name === input.name)) {
      throw new IcpyError('INVALID_PARAMS', `name: a live credential is already called '${input.name}' (revoke it first, or pick another name)`, { field: 'name' });
    }
    const scopes = [...new Set(input.scopes)];
    if (scopes.length === 0 || scopes.some((s) => !SCOPES.includes(s))) {
      throw new IcpyError('INVALID_PARAMS', `scopes: one or more of ${SCOPES.join(', ')}`, { field: 'scopes' });
    }
    if (input.paths !== undefined) compilePathRule(input.paths); // INVALID_PARAMS naming `paths`
    const expiresMs = input.expiresIn === undefined ? undefined : parseExpiresIn(input.expiresIn);
    if (this.live.size >= this.max) {
      throw new IcpyError('LIMIT_EXCEEDED', `There are ${this.live.size} live agent credentials, the maximum (${this.max}); revoke one first`, {
        limit: 'maxCredentials',
        max: this.max,
      });
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(SECRET_BYTES).toString('base64url');
    const createdAt = this.now();
    const row: StoredCredentialRow = {
      id,
      name: input.name,
      secretHash: sha256(secret).toString('hex'),
      scopes: SCOPES.filter((s) => scopes.includes(s)),
      paths: input.paths ? [...input.paths] : undefined,
      createdAt,
      expiresAt: expiresMs === undefined ? undefined : createdAt + expiresMs,
    };
    const live = this.toLive(row);
    this.opts.store.insert(row);
    this.live.set(id, live);
    this.arm();
    const summary = summaryOf(row);
    this.opts.broker.publish('agents.token.created', summary, source);
    return { ...summary, token: `${TOKEN_PREFIX}${id}_${secret}` };
  }

  list(): CredentialSummary[] {
    this.expireDue();
    return [...this.live.values()].map((l) => summaryOf(l.row));
  }

  revoke(which: { id?: string; name?: string }, source: EventSource): CredentialSummary {
    this.expireDue();
    const hit = [...this.live.values()].find((l) => (which.id !== undefined ? l.row.id === which.id : l.row.name === which.name));
    if (!hit) {
      const what = which.id !== undefined ? `id '${which.id}'` : `name '${which.name}'`;
      throw new IcpyError('CREDENTIAL_NOT_FOUND', `No live agent credential with ${what} (see agents.tokens.list)`, which.id !== undefined ? { id: which.id } : { name: which.name });
    }
    this.end(hit, 'revoked', source);
    return summaryOf(hit.row);
  }

  /** Token → the agent principal, or undefined (not an agent token, unknown, wrong secret, expired). */
  authenticate(token: string | undefined | null): Principal | undefined {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !token.startsWith(TOKEN_PREFIX)) return undefined;
    const rest = token.slice(TOKEN_PREFIX.length);
    const cut = rest.indexOf('_');
    if (cut < 0) return undefined;
    const live = this.live.get(rest.slice(0, cut));
    if (!live) return undefined;
    const got = sha256(rest.slice(cut + 1));
    if (!timingSafeEqual(got, live.hash)) return undefined;
    if (live.row.expiresAt !== undefined && live.row.expiresAt <= this.now()) {
      this.expireDue();
      return undefined;
    }
    return live.principal;
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private toLive(row: StoredCredentialRow): Live {
    if (!ID_PATTERN.test(row.id) || !/^[0-9a-f]{64}$/.test(row.secretHash)) throw new Error('malformed credential row');
    const granted = new Set(row.scopes.filter((s): s is Scope => SCOPES.includes(s as Scope)));
    const paths: PathRule | undefined = row.paths ? compilePathRule(row.paths) : undefined;
    const principal: Principal = Object.freeze({
      id: `agent:${row.id}`,
      kind: 'agent' as const,
      name: row.name,
      scopes: effectiveScopes(granted, this.opts.ceiling ?? ALL_SCOPES),
      ...(paths ? { paths } : {}),
      ...(row.expiresAt !== undefined ? { expiresAt: row.expiresAt } : {}),
    });
    return { row, hash: Buffer.from(row.secretHash, 'hex'), principal };
  }

  private end(l: Live, why: CredentialEnd, source: EventSource): void {
    if (!this.live.delete(l.row.id)) return;
    this.opts.store.delete(l.row.id);
    this.arm();
    this.opts.broker.publish('agents.token.revoked', { id: l.row.id, name: l.row.name, reason: why }, source);
    this.opts.onEnd?.(l.principal.id, why);
  }

  /** End every credential whose expiry has passed. */
  private expireDue(): void {
    const now = this.now();
    for (const l of [...this.live.values()]) {
      if (l.row.expiresAt !== undefined && l.row.expiresAt <= now) this.end(l, 'expired', SYSTEM_SOURCE);
    }
  }

  /** One timer, for the earliest expiry. */
  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.disposed) return;
    let next = Infinity;
    for (const l of this.live.values()) if (l.row.expiresAt !== undefined && l.row.expiresAt < next) next = l.row.expiresAt;
    if (next === Infinity) return;
    const delay = Math.min(Math.max(0, next - this.now()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expireDue();
      this.arm();
    }, delay);
    this.timer.unref();
  }
}

/** What a credential may do under the server's ceiling (`admin` stands for every scope). */
function effectiveScopes(granted: ReadonlySet<Scope>, ceiling: ReadonlySet<Scope>): ReadonlySet<Scope> {
  if (ceiling.has('admin')) return Object.freeze(new Set(granted)) as ReadonlySet<Scope>;
  const wanted = granted.has('admin') ? SCOPES : [...granted];
  return Object.freeze(new Set(wanted.filter((s) => ceiling.has(s)))) as ReadonlySet<Scope>;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function summaryOf(row: StoredCredentialRow): CredentialSummary {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes as Scope[],
    paths: row.paths ? [...row.paths] : null,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt ?? null,
  };
}
