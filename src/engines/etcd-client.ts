/**
 * A small etcd v3 client over etcd's JSON gRPC gateway (`POST /v3/...`, keys and values base64),
 * with Node's fetch. Why not a gRPC client from npm: none is in node_modules, the project adds no
 * npm dependency for this, and the few calls the quorum needs (lease grant/keepalive/revoke, a
 * compare-and-swap txn, range, put, delete, auth) are single request/answer exchanges the gateway
 * serves as plain HTTP (a keepalive with one request answers once and closes).
 *
 * Each client talks to ONE member (its node's own etcd): a member cut off from the majority
 * cannot renew a lease or commit a txn, and that failure is exactly what the self-fence and the
 * election need to see. Every call is bounded by `timeoutMs`.
 */
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';

export interface EtcdEndpoint {
  readonly host: string;
  readonly port: number;
}

export interface EtcdAuth {
  readonly user: string;
  readonly password: string;
}

/** An answer the member gave with an error (gRPC code), as opposed to no answer at all. */
export class EtcdError extends HastackError {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(ErrorCode.QUORUM_UNAVAILABLE, `etcd: ${message}`);
  }
}

// gRPC codes the gateway returns: 16 UNAUTHENTICATED (a token expired or the member restarted).
const UNAUTHENTICATED = 16;

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
export const unb64 = (s: string | undefined): string => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

export interface EtcdKv {
  readonly key: string;
  readonly value: string;
  readonly createRevision: string;
  readonly modRevision: string;
  readonly lease: string;
}

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

const kvOf = (r: RawKv): EtcdKv => ({
  key: unb64(r.key),
  value: unb64(r.value),
  createRevision: r.create_revision ?? '0',
  modRevision: r.mod_revision ?? '0',
  lease: r.lease ?? '0',
});

export class EtcdClient {
  private token: string | undefined;
  private readonly base: string;

  constructor(
    readonly endpoint: EtcdEndpoint,
    private readonly auth: EtcdAuth | undefined,
    // 1 s: a healthy member answers on loopback or a LAN in ms; a member without quorum hangs a
    // write until its own request timeout (~7 s), far past a 2 s lease, so we stop waiting first.
    private readonly timeoutMs = 1_000,
  ) {
    this.base = `http://${endpoint.host}:${endpoint.port}`;
  }

  private async raw<T>(path: string, body: unknown, headers: Record<string, string> = {}, timeoutMs = this.timeoutMs): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new HastackError(ErrorCode.QUORUM_UNAVAILABLE, `etcd at ${this.endpoint.host}:${this.endpoint.port} did not answer ${path}: ${describeError(e)}`);
    }
    // Bounded: every answer we read is a few hundred bytes; a range of the quorum's keys a few KB.
    const text = await res.text();
    let json: { error?: string; message?: string; code?: number } & Record<string, unknown>;
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      throw new EtcdError(2, `${path} answered HTTP ${res.status} with no JSON`);
    }
    // A streaming call (lease keepalive) wraps its one message in {result}.
    if (json.error !== undefined || json.code !== undefined) throw new EtcdError(Number(json.code ?? 2), String(json.message ?? json.error));
    return (json['result'] ?? json) as T;
  }

  /** A call with the auth token, authenticating (again) when there is none or it is refused. */
  async call<T>(path: string, body: unknown): Promise<T> {
    if (!this.auth) return this.raw<T>(path, body);
    if (this.token === undefined) await this.authenticate();
    try {
      return await this.raw<T>(path, body, { authorization: this.token ?? '' });
    } catch (e) {
      if (!(e instanceof EtcdError) || e.grpcCode !== UNAUTHENTICATED) throw e;
      await this.authenticate();
      return this.raw<T>(path, body, { authorization: this.token ?? '' });
    }
  }

  async authenticate(): Promise<void> {
    if (!this.auth) return;
    // 3 s at least: the member checks the password with bcrypt and commits the token through Raft,
    // measured 0.3-1 s on a busy 2-core machine; once a token is held, calls need no such wait.
    const r = await this.raw<{ token?: string }>('/v3/auth/authenticate', { name: this.auth.user, password: this.auth.password }, {}, Math.max(this.timeoutMs, 3_000));
    this.token = r.token;
  }

  async grant(ttlS: number): Promise<string> {
    const r = await this.call<{ ID: string }>('/v3/lease/grant', { TTL: ttlS });
    return r.ID;
  }

  /** Renews a lease; the TTL left (0: it had expired, and is gone). */
  async keepAlive(id: string): Promise<number> {
    const r = await this.call<{ TTL?: string }>('/v3/lease/keepalive', { ID: id });
    return Number(r.TTL ?? 0);
  }

  async revoke(id: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id });
  }

  async get(key: string): Promise<EtcdKv | undefined> {
    const r = await this.call<{ kvs?: RawKv[] }>('/v3/kv/range', { key: b64(key) });
    const kv = r.kvs?.[0];
    return kv ? kvOf(kv) : undefined;
  }

  /** Every key under `prefix`. */
  async list(prefix: string): Promise<EtcdKv[]> {
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    const r = await this.call<{ kvs?: RawKv[] }>('/v3/kv/range', { key: b64(prefix), range_end: b64(end) });
    return (r.kvs ?? []).map(kvOf);
  }

  async put(key: string, value: string, lease?: string): Promise<void> {
    await this.call('/v3/kv/put', { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
  }

  async del(key: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) });
  }

  /**
   * Creates `key` with `value` under `lease` only if it does not exist (create_revision 0): the
   * compare-and-swap of an election. Returns whether it was created, and the holder's value when
   * it exists already.
   */
  async createIfAbsent(key: string, value: string, lease: string): Promise<{ created: boolean; holder?: EtcdKv }> {
    const r = await this.call<{ succeeded?: boolean; responses?: Array<{ response_range?: { kvs?: RawKv[] } }> }>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
      success: [{ request_put: { key: b64(key), value: b64(value), lease } }],
      failure: [{ request_range: { key: b64(key) } }],
    });
    if (r.succeeded === true) return { created: true };
    const kv = r.responses?.[0]?.response_range?.kvs?.[0];
    return kv ? { created: false, holder: kvOf(kv) } : { created: false };
  }

  /** Puts `value` at `key` only while `key` was created at `createRevision` (still our election). */
  async putIfOwned(key: string, createRevision: string, value: string, lease: string): Promise<boolean> {
    const r = await this.call<{ succeeded?: boolean }>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: createRevision }],
      success: [{ request_put: { key: b64(key), value: b64(value), lease } }],
    });
    return r.succeeded === true;
  }

  /** Deletes `key` only while it was last written at `modRevision` (nobody wrote it since we looked). True if deleted. */
  async delIfUnchanged(key: string, modRevision: string): Promise<boolean> {
    const r = await this.call<{ succeeded?: boolean }>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'MOD', result: 'EQUAL', mod_revision: modRevision }],
      success: [{ request_delete_range: { key: b64(key) } }],
    });
    return r.succeeded === true;
  }

  /** Deletes `key` only while its value is `value` (a claim given up, never someone else's). True if deleted. */
  async delIfValue(key: string, value: string): Promise<boolean> {
    const r = await this.call<{ succeeded?: boolean }>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'VALUE', result: 'EQUAL', value: b64(value) }],
      success: [{ request_delete_range: { key: b64(key) } }],
    });
    return r.succeeded === true;
  }

  /** `/health` (no auth): true when this member is part of a cluster that has a leader. */
  async healthy(): Promise<{ healthy: boolean; detail: string }> {
    try {
      const res = await fetch(`${this.base}/health`, { signal: AbortSignal.timeout(this.timeoutMs) });
      const j = (await res.json()) as { health?: string; reason?: string };
      return { healthy: j.health === 'true', detail: j.health === 'true' ? 'member of a cluster with a leader' : `no quorum${j.reason ? `: ${j.reason}` : ''}` };
    } catch (e) {
      return { healthy: false, detail: describeError(e) };
    }
  }

  /**
   * Turns authentication on with `root` (idempotent): when `root` already logs in, nothing to do.
   * Run once the cluster answers; until then the members listen only on the cluster's addresses.
   */
  async enableAuth(rootPassword: string): Promise<'enabled' | 'already'> {
    try {
      await this.raw('/v3/auth/authenticate', { name: 'root', password: rootPassword });
      return 'already';
    } catch (e) {
      if (!(e instanceof EtcdError)) throw e;
    }
    const tolerate = async (p: Promise<unknown>): Promise<void> => {
      try {
        await p;
      } catch (e) {
        // "already exists": a previous, interrupted run made it.
        if (!(e instanceof EtcdError) || !/exist/i.test(e.message)) throw e;
      }
    };
    await tolerate(this.raw('/v3/auth/user/add', { name: 'root', password: rootPassword }));
    await tolerate(this.raw('/v3/auth/role/add', { name: 'root' }));
    await tolerate(this.raw('/v3/auth/user/grant', { user: 'root', role: 'root' }));
    await this.raw('/v3/auth/enable', {});
    return 'enabled';
  }
}
