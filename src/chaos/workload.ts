import { request, type Agent } from 'undici';
import { servicesOf, type Topology } from '../config/index.js';
import { edgeFor, reusable, type Edge } from './edge.js';
import { describeError } from '../shared/errors.js';
import { sleep } from '../shared/retry.js';
import type { Attempt, AttemptOutcome, OpKind, Operation } from './history.js';
import { outcomeOfError, outcomeOfStatus } from './attempt-outcome.js';
import { pick, seededRandom } from '../shared/random.js';
import { ServiceResolver } from './resolver.js';

export interface WorkloadOptions {
  readonly topo: Topology;
  /** Concurrent clients (bounded; default 8). */
  readonly clients: number;
  /**
   * The run-relative time (ms) after which no operation starts. Read before every operation, so
   * the run can move it: a fault that landed late keeps the planned time of workload after it.
   */
  readonly endsAt: () => number;
  readonly seed: number;
  /** Prefix of every idempotency key, unique per run, so runs never collide. */
  readonly runId: string;
  /** Run-relative clock (ms); the fault schedule uses the same one. */
  readonly clock: () => number;
  /** HTTPS to the load balancers (`chaos run --https`, edge.ts); default plain HTTP. */
  readonly https?: boolean;
  /**
   * How many of the clients are naive (`chaos run --naive-clients`, default NAIVE_CLIENTS): the
   * last ones, so the retrying clients keep their ids and seeds. At least one client retries.
   */
  readonly naiveClients?: number;
  /**
   * How many of the clients only browse (`chaos run --reader-clients`, default a quarter of the
   * clients, at least one: readerCount): item reads and the item list, never a write, so they
   * never wait behind a held write of their own and the run's read gap measures the stack. A
   * reader has no orders of its own, so it reads none back (read-your-writes holds only for the
   * writer's session). Readers retry like the full-mix clients; they are the clients just before
   * the naive ones (naive clients keep the full mix), and at least one client retries the full mix.
   */
  readonly readerClients?: number;
}

/** Naive clients in a run unless told otherwise (issue 22: "default 2 of the clients"). */
export const NAIVE_CLIENTS = 2;

/** The naive clients of a run of `clients` clients when `requested` were asked for: at least one client keeps retrying. */
export function naiveCount(clients: number, requested: number = NAIVE_CLIENTS): number {
  return Math.max(0, Math.min(requested, clients - 1));
}

/** Reader clients of a run of `clients` clients unless told otherwise: a quarter, at least one. */
export function defaultReaders(clients: number): number {
  return Math.max(1, Math.floor(clients / 4));
}

/**
 * The reader clients of a run of `clients` clients with `naive` naive ones asked for, when
 * `requested` readers were asked for: never a naive client, and at least one full-mix retrying
 * client is left (the writes the run checks).
 */
export function readerCount(clients: number, naive: number = NAIVE_CLIENTS, requested: number = defaultReaders(clients)): number {
  return Math.max(0, Math.min(requested, clients - naiveCount(clients, naive) - 1));
}

/** What kind of client `id` is in a run: the last ones naive, the ones just before them readers. */
export function clientRole(id: number, clients: number, naive?: number, readers?: number): 'full' | 'reader' | 'naive' {
  const firstNaive = clients - naiveCount(clients, naive);
  if (id >= firstNaive) return 'naive';
  return id >= firstNaive - readerCount(clients, naive, readers) ? 'reader' : 'full';
}

// Per attempt: a client gives up on one load balancer after 5 s (a user would click again).
export const ATTEMPT_TIMEOUT_MS = 5_000;
// Per operation: writes retry with the same key for up to 20 s, long enough to ride through a
// database or Redis failover, short enough that a user would still be waiting.
export const WRITE_DEADLINE_MS = 20_000;
export const WRITE_MAX_ATTEMPTS = 8;
// Reads: a real client retries a GET once or twice, on another load balancer.
export const READ_MAX_ATTEMPTS = 3;
/**
 * The HTTP stack's own resend, beneath any retry of the client's: a request that went out on a
 * kept-alive connection which had served an earlier answer, and whose connection then closed or
 * reset before any header of the answer, is sent again at once, POST included. Browsers and curl
 * all do it, since a server may close an idle connection just as a request goes out on it
 * (Chromium: `HttpNetworkTransaction::ShouldResendRequest`, at most `kMaxRetryAttempts` = 2
 * times; Node documents the same rule with `request.reusedSocket`). A connection made for the
 * request, a timeout, or an answer's headers make the error final. A browser posting a form does
 * this, so the naive clients do too. With one connection per load balancer (edge.ts) the resend
 * goes out on a new connection, so it comes at most once; Chromium's bound caps it all the same.
 */
const MAX_RESENDS = 2;
/** Pause between a client's operations, so 8 clients make a steady load rather than a flood. */
const THINK_MS = 10;
/**
 * The ERP's demo user the virtual clients log in as (created by the ERP's demo-only migration
 * 009: on hosts only with `app.demoData: true`): each client holds its own session for the whole
 * run. It logs in once per client and never fails a login, so the ERP's login throttle (failed
 * logins only) never trips on it.
 */
export const WORKLOAD_USER = { username: 'clerk', password: 'clerk-demo' } as const;
/** Logging in: the same budget as a write (it must ride through the same failovers). */
const LOGIN_MAX_ATTEMPTS = WRITE_MAX_ATTEMPTS;
/** Hard cap on operations per client: every load loop is bounded in count as well as time. */
const MAX_OPS_PER_CLIENT = 20_000;

interface AttemptResult {
  readonly status: number;
  readonly body: unknown;
  /** The first Set-Cookie pair ("name=value"), when the answer set one. */
  readonly cookie?: string;
}

/** How one attempt came out (`Client.tryOnce`). */
interface Tried {
  readonly attempt: Attempt;
  readonly r?: AttemptResult;
  readonly verdict?: Verdict;
  readonly error?: string;
  /** The HTTP stack would send it again (MAX_RESENDS): a reset on a kept-alive connection before the answer's headers. */
  readonly resendable?: boolean;
}

interface Verdict {
  readonly ok: boolean;
  readonly orderId?: number;
  readonly jobQueued?: boolean;
  readonly refused?: boolean;
  readonly error?: string;
}

/** Statuses a client retries: the request was not served (or might not have been). */
function retryable(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504 || status === 500;
}

/**
 * One virtual client: the HTTP attempts, retries and the record of every operation, and the
 * example ERP's operation mix (`step`). Another app's workload extends it and replaces `step`
 * (workload-records.ts).
 */
export class Client {
  protected readonly random: () => number;
  private readonly edge: Edge;
  private readonly agent: Agent;
  protected n = 0;
  private lbIndex: number;
  /** The load balancer the last failed connection went to: the next attempt goes elsewhere. */
  private avoid: string | undefined;
  private lastAddress: string | undefined;
  /** Of the last attempt: it went out on a kept-alive connection, and its answer's headers came. */
  private lastReused = false;
  private lastHeaders = false;
  protected readonly acked: number[] = [];
  /** The session cookie ("erp_session=..."), sent with every request once logged in. */
  private cookie: string | undefined;
  /** A naive client (see `WorkloadOptions.naiveClients`): one request per operation. */
  readonly naive: boolean;
  /** A reader client (see `WorkloadOptions.readerClients`): browses only, never writes. */
  readonly reader: boolean;
  /** The naive client's address for the next attempt (it walks the DNS answer itself). */
  private pinned: string | undefined;
  readonly ops: Operation[] = [];

  constructor(
    protected readonly id: number,
    protected readonly opts: WorkloadOptions,
    private readonly resolver: ServiceResolver,
    private readonly skus: readonly string[] = [],
  ) {
    this.random = seededRandom(opts.seed * 1000 + id);
    this.lbIndex = id;
    const role = clientRole(id, opts.clients, opts.naiveClients, opts.readerClients);
    this.naive = role === 'naive';
    this.reader = role === 'reader';
    this.edge = edgeFor(opts.topo, opts.https === true);
    this.agent = this.edge.agent({ connectTimeoutMs: 1_000, keepAliveTimeoutMs: 4_000 });
  }

  async run(): Promise<void> {
    try {
      while (this.opts.clock() < this.opts.endsAt() && this.ops.length < MAX_OPS_PER_CLIENT) {
        await this.step();
        await sleep(THINK_MS);
      }
    } finally {
      await this.agent.close();
    }
  }

  /**
   * One operation of the ERP's mix: 35 % orders, 25 % order read-backs, the rest item reads; a
   * reader client: 70 % item reads, 30 % the item list.
   */
  protected async step(): Promise<void> {
    // At the start, and again after the service said the session was gone.
    if (this.cookie === undefined) {
      await this.login();
      return;
    }
    const r = this.random();
    if (this.reader) {
      if (r < 0.7) await this.readItem();
      else await this.listItems();
      return;
    }
    if (r < 0.35) await this.createOrder();
    else if (r < 0.6 && this.acked.length > 0) await this.readOrder();
    else await this.readItem();
  }

  /** One HTTP attempt on the next load balancer (round robin over the DNS answer). */
  protected async attempt(method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<AttemptResult> {
    let address = this.pinned;
    if (address === undefined) {
      const addresses = await this.resolver.resolve();
      address = addresses[this.lbIndex++ % addresses.length];
      // Like a browser falling over between A records: never retry on the address that just
      // refused us while the answer names another one.
      if (address === this.avoid && addresses.length > 1) address = addresses[this.lbIndex++ % addresses.length];
    }
    this.lastAddress = address;
    const origin = new URL(`${this.edge.scheme}://${address}:${this.edge.port}`).origin;
    this.lastReused = reusable(this.agent, origin);
    const res = await request(`${origin}${path}`, {
      method,
      dispatcher: this.agent,
      headers: { 'content-type': 'application/json', ...(this.cookie === undefined ? {} : { cookie: this.cookie }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: ATTEMPT_TIMEOUT_MS,
      bodyTimeout: ATTEMPT_TIMEOUT_MS,
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    });
    this.lastHeaders = true;
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const setCookie = res.headers['set-cookie'];
    const first = Array.isArray(setCookie) ? setCookie[0] : setCookie;
    return { status: res.statusCode, body: parsed, ...(first ? { cookie: first.split(';')[0] } : {}) };
  }

  /**
   * Runs attempts until one succeeds, a non-retryable answer comes, or the budget is spent.
   * Connection errors and 5xx are retried (on the next load balancer) with capped backoff.
   * A naive client runs `once` instead. Every attempt's outcome goes into the record.
   */
  protected async withRetries(
    kind: OpKind,
    maxAttempts: number,
    deadlineMs: number,
    send: () => Promise<AttemptResult>,
    accept: (r: AttemptResult) => Verdict,
    key?: string,
  ): Promise<Operation> {
    if (this.naive) return this.once(kind, send, accept, key);
    const start = this.opts.clock();
    const tries: Attempt[] = [];
    let error = '';
    for (;;) {
      const t = await this.transmit(send, accept, tries);
      if (t.r !== undefined && t.verdict !== undefined) {
        this.avoid = undefined;
        const done = this.answered(kind, start, tries, key, t.r, t.verdict);
        if (done) return done;
        error = `HTTP ${t.r.status}`;
      } else {
        error = t.error ?? '';
        this.avoid = this.lastAddress;
        if (tries.length % 2 === 0) this.resolver.invalidate();
      }
      const elapsed = this.opts.clock() - start;
      if (tries.length >= maxAttempts || elapsed >= deadlineMs) {
        return this.record({ kind, start, tries, ok: false, key, error });
      }
      await sleep(Math.min(2_000, 100 * 2 ** (tries.length - 1)));
    }
  }

  /**
   * A naive client's operation, as a browser makes it: one request on one address of the DNS
   * answer; a connection that was never made (refused, connect timeout) moves on to the next
   * address at once, as browsers do between A records; anything after the request went out (an
   * answer, a reset, a timeout) is final but for the HTTP stack's own resend (MAX_RESENDS): no
   * replay, no second try under the idempotency key.
   */
  private async once(kind: OpKind, send: () => Promise<AttemptResult>, accept: (r: AttemptResult) => Verdict, key?: string): Promise<Operation> {
    const start = this.opts.clock();
    const tries: Attempt[] = [];
    let addresses: string[];
    try {
      addresses = await this.resolver.resolve();
    } catch (e) {
      // No DNS answer: the browser's "server not found", nothing was sent.
      tries.push({ at: start, ms: this.opts.clock() - start, outcome: 'unreached' });
      return this.record({ kind, start, tries, ok: false, key, error: describeError(e).slice(0, 120) });
    }
    const first = this.lbIndex++;
    let error = '';
    try {
      for (let i = 0; i < addresses.length; i++) {
        this.pinned = addresses[(first + i) % addresses.length];
        const t = await this.transmit(send, accept, tries);
        if (t.r !== undefined && t.verdict !== undefined) {
          return this.answered(kind, start, tries, key, t.r, t.verdict) ?? this.record({ kind, start, tries, ok: false, key, error: `HTTP ${t.r.status}` });
        }
        error = t.error ?? '';
        if (t.attempt.outcome !== 'unreached') break;
      }
    } finally {
      this.pinned = undefined;
    }
    return this.record({ kind, start, tries, ok: false, key, error });
  }

  /**
   * One request as the client's HTTP stack makes it: an attempt, sent again on the same address
   * when the stack would resend it (MAX_RESENDS). Each attempt goes into `tries`; the last one's
   * result comes back. Never throws.
   */
  private async transmit(send: () => Promise<AttemptResult>, accept: (r: AttemptResult) => Verdict, tries: Attempt[]): Promise<Tried> {
    const pinned = this.pinned;
    try {
      for (let resends = 0; ; resends++) {
        const t = await this.tryOnce(send, accept);
        const address = t.attempt.address;
        if (t.resendable !== true || resends >= MAX_RESENDS || address === undefined) {
          tries.push(t.attempt);
          return t;
        }
        tries.push({ ...t.attempt, resent: true });
        this.pinned = address;
      }
    } finally {
      this.pinned = pinned;
    }
  }

  /** One attempt, timed and classified; never throws. */
  private async tryOnce(send: () => Promise<AttemptResult>, accept: (r: AttemptResult) => Verdict): Promise<Tried> {
    const at = this.opts.clock();
    this.lastAddress = undefined;
    this.lastReused = false;
    this.lastHeaders = false;
    try {
      const r = await send();
      const verdict = accept(r);
      return { attempt: this.attemptOf(at, outcomeOfStatus(r.status, verdict.ok), r.status), r, verdict };
    } catch (e) {
      const error = describeError(e).slice(0, 120);
      const outcome = outcomeOfError(e);
      return { attempt: this.attemptOf(at, outcome, undefined, error), error, resendable: outcome === 'reset' && this.lastReused && !this.lastHeaders };
    }
  }

  private attemptOf(at: number, outcome: AttemptOutcome, status?: number, error?: string): Attempt {
    const address = this.lastAddress;
    return {
      at,
      ms: this.opts.clock() - at,
      outcome,
      ...(status !== undefined ? { status } : {}),
      ...(address !== undefined ? { address } : {}),
      ...(error !== undefined ? { error } : {}),
    };
  }

  /** The operation's record after an answer, or undefined when the answer is worth another try. */
  private answered(kind: OpKind, start: number, tries: Attempt[], key: string | undefined, r: AttemptResult, verdict: Verdict): Operation | undefined {
    if (r.status === 401 && kind !== 'login') {
      // The session is gone: a failure of its own kind (the promise "sessions survive").
      this.cookie = undefined;
      return this.record({ kind, start, tries, ok: false, key, sessionLost: true, error: 'session lost (HTTP 401)' });
    }
    if (!verdict.ok && retryable(r.status)) return undefined;
    return this.record({
      kind,
      start,
      tries,
      ok: verdict.ok,
      key,
      orderId: verdict.orderId,
      jobQueued: verdict.jobQueued,
      refused: verdict.refused,
      error: verdict.error,
    });
  }

  private record(o: {
    kind: OpKind;
    start: number;
    tries: readonly Attempt[];
    ok: boolean;
    key?: string;
    orderId?: number;
    jobQueued?: boolean;
    refused?: boolean;
    sessionLost?: boolean;
    error?: string;
  }): Operation {
    const op: Operation = {
      client: this.id,
      kind: o.kind,
      start: o.start,
      end: this.opts.clock(),
      ok: o.ok,
      attempts: o.tries.length,
      ...(this.naive ? { naive: true as const } : {}),
      tries: o.tries,
      ...(o.key !== undefined ? { key: o.key } : {}),
      ...(o.orderId !== undefined ? { orderId: o.orderId } : {}),
      ...(o.jobQueued !== undefined ? { jobQueued: o.jobQueued } : {}),
      ...(o.refused ? { refused: true } : {}),
      ...(o.sessionLost ? { sessionLost: true } : {}),
      ...(o.error !== undefined && !o.ok ? { error: o.error } : {}),
    };
    this.ops.push(op);
    return op;
  }

  /** POST /login as the workload user; keeps the session cookie the answer sets. */
  private async login(): Promise<void> {
    await this.withRetries(
      'login',
      LOGIN_MAX_ATTEMPTS,
      WRITE_DEADLINE_MS,
      () => this.attempt('POST', '/login', WORKLOAD_USER),
      (r) => {
        if (r.status === 200 && r.cookie !== undefined) {
          this.cookie = r.cookie;
          return { ok: true };
        }
        return { ok: false, error: `login: HTTP ${r.status}` };
      },
    );
  }

  private async createOrder(): Promise<void> {
    // One key per logical order, reused on every retry; the customer field carries it too so a
    // checker can find duplicates even if an app ignored the key.
    const key = `chaos-${this.opts.runId}-${this.id}-${this.n++}`;
    const sku = pick(this.skus, this.random) ?? 'SPROCKET';
    const body = { customer: key, lines: [{ sku, qty: 1 }] };
    const op = await this.withRetries(
      'create-order',
      WRITE_MAX_ATTEMPTS,
      WRITE_DEADLINE_MS,
      () => this.attempt('POST', '/api/orders', body, { 'idempotency-key': key }),
      (r) => {
        const b = r.body as { id?: unknown; confirmation?: unknown } | undefined;
        const id = b?.id;
        // Out of stock is a correct answer (the order was refused whole, nothing reserved).
        if (r.status === 409 && (r.body as { error?: { code?: unknown } } | undefined)?.error?.code === 'INSUFFICIENT_STOCK') return { ok: true, refused: true };
        // The job counts as acknowledged only when the service said it is durably queued.
        return (r.status === 201 || r.status === 200) && typeof id === 'number'
          ? { ok: true, orderId: id, jobQueued: b?.confirmation === 'queued' }
          : { ok: false, error: `HTTP ${r.status}` };
      },
      key,
    );
    if (op.ok && op.orderId !== undefined) this.acked.push(op.orderId);
  }

  private async readOrder(): Promise<void> {
    const id = pick(this.acked, this.random) ?? 0;
    await this.withRetries(
      'read-order',
      READ_MAX_ATTEMPTS,
      ATTEMPT_TIMEOUT_MS * READ_MAX_ATTEMPTS,
      () => this.attempt('GET', `/api/orders/${id}`),
      // A 404 for an order this client was told exists is a failed read (a stale replica).
      (r) => (r.status === 200 && (r.body as { id?: unknown } | undefined)?.id === id ? { ok: true, orderId: id } : { ok: false, error: `HTTP ${r.status}` }),
    );
  }

  private async readItem(): Promise<void> {
    const sku = pick(this.skus, this.random) ?? 'SPROCKET';
    await this.withRetries(
      'read-item',
      READ_MAX_ATTEMPTS,
      ATTEMPT_TIMEOUT_MS * READ_MAX_ATTEMPTS,
      () => this.attempt('GET', `/api/items/${encodeURIComponent(sku)}`),
      (r) => (r.status === 200 ? { ok: true } : { ok: false, error: `HTTP ${r.status}` }),
    );
  }

  private async listItems(): Promise<void> {
    await this.withRetries(
      'list-items',
      READ_MAX_ATTEMPTS,
      ATTEMPT_TIMEOUT_MS * READ_MAX_ATTEMPTS,
      () => this.attempt('GET', '/api/items'),
      (r) => (r.status === 200 && Array.isArray((r.body as { items?: unknown } | undefined)?.items) ? { ok: true } : { ok: false, error: `HTTP ${r.status}` }),
    );
  }
}

export function resolverFor(topo: Topology): ServiceResolver {
  const servers = servicesOf(topo, 'dns').map((s) => ({ address: s.address, port: s.port }));
  return new ServiceResolver(servers, topo.config.serviceName);
}

/**
 * The ERP's deliberately scarce item (3 in stock, migration 002): kept out of the load, so that
 * refusals for want of stock stay its own test.
 */
const SCARCE_SKUS: ReadonlySet<string> = new Set(['RARE-COIN']);
/**
 * Stock each ordered item gets before a run: the ERP reserves stock when it takes an order and
 * refuses one it cannot cover, so a depleted item would turn every write into a refusal (an
 * answer, not an order). 8 clients place ~40 orders/s spread over the items: 5000 units each
 * cover a run of several minutes, and each run tops them up again.
 */
const RESTOCK_FLOOR = 5_000;
// Per setup request: far above a healthy answer; the setup runs before any fault.
const SETUP_TIMEOUT_MS = 10_000;

async function setupCall(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  cookie?: string,
  dispatcher?: Agent,
): Promise<{ status: number; body: unknown; cookie?: string }> {
  const res = await request(`${base}${path}`, {
    method,
    ...(dispatcher !== undefined ? { dispatcher } : {}),
    headers: { 'content-type': 'application/json', ...(cookie === undefined ? {} : { cookie }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    headersTimeout: SETUP_TIMEOUT_MS,
    bodyTimeout: SETUP_TIMEOUT_MS,
  });
  const text = await res.body.text();
  const set = res.headers['set-cookie'];
  const first = Array.isArray(set) ? set[0] : set;
  return { status: res.statusCode, body: text === '' ? undefined : (JSON.parse(text) as unknown), ...(first ? { cookie: first.split(';')[0] } : {}) };
}

/**
 * The items to order, read once through the service before the run starts, each topped up to
 * RESTOCK_FLOOR by a stock receipt (POST /api/stock/receipts, a unique reference per run).
 */
export async function fetchSkus(topo: Topology, https = false): Promise<string[]> {
  const edge = edgeFor(topo, https);
  const agent = edge.agent({ connectTimeoutMs: 1_000, keepAliveTimeoutMs: 4_000 });
  try {
    return await fetchSkusThrough(topo, edge, agent);
  } finally {
    await agent.close();
  }
}

async function fetchSkusThrough(topo: Topology, edge: Edge, agent: Agent): Promise<string[]> {
  const resolver = resolverFor(topo);
  const [address] = await resolver.resolve();
  const base = `${edge.scheme}://${address}:${edge.port}`;
  // Every read of the ERP needs a session: log in first.
  const login = await setupCall(base, 'POST', '/login', WORKLOAD_USER, undefined, agent).catch(() => undefined);
  let list = await setupCall(base, 'GET', '/api/items', undefined, login?.cookie, agent);
  // An app that loses sessions (the session checker's own test) may answer 401 on the app
  // server that did not make it: ask again, a bounded few times, and let the balancer rotate.
  for (let i = 0; i < 3 && list.status === 401; i++) list = await setupCall(base, 'GET', '/api/items', undefined, login?.cookie, agent);
  const items = ((list.body as { items?: Array<{ sku: string; stockOnHand?: number }> } | undefined)?.items ?? []).filter((i) => !SCARCE_SKUS.has(i.sku));
  const low = items.filter((i) => (i.stockOnHand ?? 0) < RESTOCK_FLOOR);
  // Best effort: a restock that fails (an app that loses sessions, a tier down before the run)
  // does not stop the run; what it costs shows in the report as refused orders and a warning.
  if (low.length > 0) {
    const stamp = Date.now().toString(36);
    for (const i of login?.status === 200 ? low : []) {
      const qty = RESTOCK_FLOOR - (i.stockOnHand ?? 0);
      await setupCall(base, 'POST', '/api/stock/receipts', { reference: `chaos-restock-${stamp}-${i.sku}`, sku: i.sku, warehouse: 'MAIN', qty }, login?.cookie, agent).catch(
        () => undefined,
      );
    }
  }
  return items.map((i) => i.sku);
}

/** Runs every client until the duration ends; returns all recorded operations. */
export async function runWorkload(opts: WorkloadOptions, skus: readonly string[]): Promise<Operation[]> {
  return runClients(opts, (i, resolver) => new Client(i, opts, resolver, skus));
}

/** `opts.clients` clients made by `make`, sharing one resolver, run to the end; their operations in start order. */
export async function runClients(opts: WorkloadOptions, make: (id: number, resolver: ServiceResolver) => Client): Promise<Operation[]> {
  const resolver = resolverFor(opts.topo);
  const firstNaive = opts.clients - naiveCount(opts.clients, opts.naiveClients);
  // A naive client is a browser: its own stub resolver (its own cache, kept for the TTL), never
  // told by the other clients' failures to ask again.
  const clients = Array.from({ length: opts.clients }, (_, i) => make(i, i >= firstNaive ? resolverFor(opts.topo) : resolver));
  await Promise.all(clients.map((c) => c.run()));
  return clients.flatMap((c) => c.ops).sort((a, b) => a.start - b.start);
}
