/**
 * The application contract: the one API an application uses to run on hastack.
 *
 * An app is a module whose default export is `defineApp({...})`: HTTP routes, background jobs,
 * optional schedules, and SQL migrations. Handlers get an `AppContext` with the cluster's
 * database, cache, job queue, sessions and a logger, each already highly available. Nothing
 * here names the HTTP framework, the Redis or MariaDB driver: apps import only this module.
 */
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { Cache } from '../clients/cache/index.js';
import type { SessionDb } from '../clients/db/index.js';

export type { Cache } from '../clients/cache/index.js';
export type { Db, DbReader, DbTx, QueryOptions, ReadOptions, Row, SessionDb, SqlValue, TransactionOptions, WriteResult } from '../clients/db/index.js';
export { isDuplicateKeyError } from '../clients/db/index.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Paths the host serves itself; an app may not define them. */
export const RESERVED_PATHS: readonly string[] = ['/healthz', '/readyz'];

export interface AppRequest {
  readonly method: HttpMethod;
  /** The path without the query string. */
  readonly path: string;
  /** `:name` segments of the route's url. */
  readonly params: Readonly<Record<string, string>>;
  /** Query string; a repeated name gives an array. */
  readonly query: Readonly<Record<string, string | readonly string[]>>;
  /** Parsed JSON body (undefined when there is none). Validate it: it is whatever the client sent. */
  readonly body: unknown;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /**
   * The client's address: the one the cluster's load balancer saw (its `X-Forwarded-For`, trusted
   * only on a connection from a load balancer of the cluster or from loopback), else the TCP
   * peer's. For per-client limits and logs; not an identity.
   */
  readonly clientAddress: string;
  /**
   * The client reached the cluster over TLS (the load balancers' HTTPS listener, lb.tls): their
   * `X-Forwarded-Proto: https`, trusted like `clientAddress` (only from a load balancer of the
   * cluster or loopback). Use it for `Secure` cookies and absolute URLs.
   */
  readonly secure: boolean;
  /** The `X-Request-Id` the load balancer set (or one made here); it is in every error body. */
  readonly requestId: string;
  /** Aborted when the request timed out or the client went away: stop work that is no longer wanted. */
  readonly signal: AbortSignal;
}

/**
 * Throw to answer with an error: `{"error":{"code","message","requestId"}}` and `status`.
 * `code` is a stable machine-readable string of the app's choosing (e.g. "UNKNOWN_SKU").
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new HastackError(ErrorCode.APP_INVALID, `HttpError status must be 400-599, got ${status}`);
    }
  }
}

const RESPONSE_BRAND = Symbol.for('hastack.response');

/** A response with a status other than 200, or extra headers. Create it with `respond()`. */
export interface HttpResponse {
  readonly [RESPONSE_BRAND]: true;
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Headers that frame the message or manage the connection: the host (and the load balancer behind
 * it) owns them. An app setting `Content-Length` or `Transfer-Encoding` beside the body the host
 * frames would make the response ambiguous to every parser on the way (response splitting,
 * RFC 9112 §6.3); the others are hop-by-hop (RFC 9110 §7.6.1).
 */
const FRAMING_HEADERS: readonly string[] = ['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'http2-settings'];
/** RFC 9110 token characters (a header name). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** HTAB, SP, visible ASCII and obs-text only: no CR, LF, NUL or other control character. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Refuses response headers an app may not set: framing and hop-by-hop ones, names that are not
 * tokens, values with control characters. Called by `respond()` and again by the host before it
 * sends (a response object can be built without `respond()`).
 */
export function checkResponseHeaders(headers: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) throw new HastackError(ErrorCode.APP_INVALID, `respond() header name ${JSON.stringify(name)} is not a valid HTTP header name`);
    if (FRAMING_HEADERS.includes(name.toLowerCase())) {
      throw new HastackError(ErrorCode.APP_INVALID, `respond() may not set ${name}: the host frames the response and manages the connection; leave it out`);
    }
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) {
      throw new HastackError(ErrorCode.APP_INVALID, `respond() header ${name} must be a string without control characters (CR, LF, NUL)`);
    }
  }
}

/** `return respond(201, order)`: a JSON body with a chosen status (and headers, not framing ones). */
export function respond(status: number, body?: unknown, headers: Readonly<Record<string, string>> = {}): HttpResponse {
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new HastackError(ErrorCode.APP_INVALID, `respond() status must be 200-599, got ${status}`);
  }
  checkResponseHeaders(headers);
  return { [RESPONSE_BRAND]: true, status, body, headers };
}

export function isHttpResponse(v: unknown): v is HttpResponse {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[RESPONSE_BRAND] === true;
}

export interface AppLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface EnqueueOptions {
  /** Idempotent enqueue: the same jobId while that job is known adds nothing. Not all digits, no ':'. */
  readonly jobId?: string;
  readonly delayMs?: number;
  /** Attempts before the job is failed (default 5, backing off 1, 2, 4, 8 s). */
  readonly attempts?: number;
  /**
   * Default true when the cluster has a Redis replica (false with a single Redis, which has no
   * replica to wait for): resolve only once a Redis replica has the job too, so no single Redis failure
   * can lose it; otherwise reject with HastackError QUEUE_NOT_DURABLE (the job may or may not
   * run: do not tell anyone it is queued, enqueue it again later with the same jobId). `false`
   * resolves as soon as the master has it.
   */
  readonly durable?: boolean;
  /**
   * How long to wait for a Redis master, at most the default (which rides out a Sentinel
   * failover, ~12 s): shorter when the caller has another way to get the job done and must not
   * hold its answer that long (the ERP's order answer: its sweep invoices the order later).
   */
  readonly timeoutMs?: number;
}

/**
 * Background jobs. `add` resolves once the Redis master and a replica have the job (see
 * `durable`); during a Redis failover it waits (a few seconds) and then rejects with a
 * HastackError REDIS_UNAVAILABLE, and with QUEUE_NOT_DURABLE while no replica confirms. Jobs run
 * at least once: a worker that dies mid-job has it re-run elsewhere, so handlers must be
 * idempotent (`ctx.job.id` is stable across re-runs; pass a `jobId` to make enqueues idempotent).
 */
export interface AppQueue {
  add(name: string, data?: JsonValue, opts?: EnqueueOptions): Promise<{ readonly id: string }>;
}

/** Server-side sessions in Redis (shared by every app server). Fails with REDIS_UNAVAILABLE. */
export interface SessionStore {
  get<T extends JsonValue = JsonValue>(id: string): Promise<T | undefined>;
  set(id: string, data: JsonValue, ttlSeconds: number): Promise<void>;
  destroy(id: string): Promise<void>;
}

/** A counter's value and the seconds until its window ends (0: no window running). */
export interface CounterState {
  readonly count: number;
  readonly resetInSeconds: number;
}

/**
 * Fixed-window counters in Redis, shared by every app server (a limit kept per process would be
 * multiplied by the number of app servers). Names may contain user names or addresses: only
 * their keyed hash is stored. Fails with REDIS_UNAVAILABLE like the sessions.
 */
export interface Counters {
  /** Counts one event under `name`; the window (seconds) starts at the first event. */
  hit(name: string, windowSeconds: number): Promise<CounterState>;
  /** The current count, without counting. */
  peek(name: string): Promise<CounterState>;
  reset(name: string): Promise<void>;
}

export interface AppContext {
  /** The app's name (from defineApp). */
  readonly app: string;
  /** The node this process runs on (for "served by" answers and logs). */
  readonly node: string;
  /**
   * The database, as a session of this request (or job): reads through `db.reader()` or with
   * `readFrom: 'replica'` go to replicas yet always see this request's own writes. To keep that
   * across requests (the next one may reach another app server), save `db.token()` after a write,
   * e.g. `await ctx.session?.set(sid, { ...data, dbToken: ctx.db.token() }, ttl)`, and start the
   * next request with `ctx.db.withToken(saved.dbToken)`.
   */
  readonly db: SessionDb;
  /**
   * Keys are namespaced per cluster and app. A cache failure is a miss, never an error.
   * `getOrLoad` reads through with one load per key at a time in this process; `deleteMany`
   * after a write drops what it made stale.
   *
   * memcached has no authentication: anyone who reaches it can list every key
   * (`lru_crawler metadump all`), read and write values. Never put a secret in a key or a value
   * (a session id, a token, a password hash), and never let a cached value grant access: cache
   * only what any logged-in user may read anyway, and check access before answering from it.
   */
  readonly cache: Cache;
  readonly queue: AppQueue;
  readonly session?: SessionStore;
  /** Counters for limits that must hold across app servers (e.g. a login throttle). */
  readonly counters?: Counters;
  readonly log: AppLogger;
}

export interface JobInfo {
  readonly id: string;
  readonly name: string;
  /** 1 on the first run. */
  readonly attempt: number;
}

export interface JobContext extends AppContext {
  readonly job: JobInfo;
}

export type RouteHandler = (req: AppRequest, ctx: AppContext) => unknown;

export interface Route {
  readonly method: HttpMethod;
  /** `/api/items/:sku`: literal segments and `:name` parameters. */
  readonly url: string;
  /**
   * Returns the JSON body (200), `respond(status, body)`, or undefined (204); throws HttpError
   * for an error answer. Anything else thrown is a 500 (or 503 for a database/Redis outage).
   */
  readonly handler: RouteHandler;
  /** Overrides the host's request timeout for this route (ms). */
  readonly timeoutMs?: number;
}

export type JobHandler = (data: unknown, ctx: JobContext) => Promise<void>;

/** A job enqueued every `everyMs`, once per tick for the whole cluster (not once per worker). */
export interface Schedule {
  readonly name: string;
  readonly job: string;
  readonly everyMs: number;
  readonly data?: JsonValue;
}

/**
 * One migration: statements run in order, once per cluster. A migration of only DML statements
 * commits atomically with its bookkeeping row; DDL commits by itself in MariaDB, so write DDL to
 * be re-runnable (`CREATE TABLE IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`) and keep data changes
 * in their own migration.
 */
export interface Migration {
  readonly id: string;
  readonly sql: readonly string[];
  /**
   * Demo data (e.g. accounts with published passwords): applied only where the config's
   * `app.demoData` is on (by default on the local and netns substrates, off on hosts). Skipped
   * migrations are not recorded: turning `demoData` on later applies them then.
   */
  readonly demoOnly?: boolean;
}

export interface AppSpec {
  /** Lower-case letters, digits and dashes: it names the job queue and the cache namespace. */
  readonly name: string;
  readonly routes: readonly Route[];
  readonly jobs: Readonly<Record<string, JobHandler>>;
  readonly schedules?: readonly Schedule[];
  readonly migrations: readonly Migration[];
}

const APP_BRAND = Symbol.for('hastack.app');

export interface AppDefinition extends AppSpec {
  readonly [APP_BRAND]: true;
  readonly schedules: readonly Schedule[];
}

function invalid(key: string, reason: string): HastackError {
  return new HastackError(ErrorCode.APP_INVALID, `app.${key}: ${reason}`, { details: { key } });
}

const SEGMENT = /^(:[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9._~-]+)$/;

/** Problems of one route url, or undefined when it is valid. */
export function checkRouteUrl(url: string): string | undefined {
  if (!url.startsWith('/')) return 'must start with "/"';
  if (url === '/') return undefined;
  const segments = url.slice(1).split('/');
  for (const s of segments) {
    if (!SEGMENT.test(s)) return `segment "${s}" must be literal (letters, digits, . _ ~ -) or a parameter like ":id"`;
  }
  const names = segments.filter((s) => s.startsWith(':'));
  if (new Set(names).size !== names.length) return 'a parameter name is used twice';
  return undefined;
}

/** Validates an app and returns its frozen definition. Throws HastackError APP_INVALID naming the key. */
export function defineApp(spec: AppSpec): AppDefinition {
  if (typeof spec.name !== 'string' || !/^[a-z][a-z0-9-]{0,39}$/.test(spec.name)) {
    throw invalid('name', 'must be 1-40 lower-case letters, digits and dashes, starting with a letter');
  }
  if (!Array.isArray(spec.routes)) throw invalid('routes', 'must be an array');
  const seen = new Set<string>();
  spec.routes.forEach((r, i) => {
    if (!(HTTP_METHODS as readonly string[]).includes(r.method)) throw invalid(`routes[${i}].method`, `must be one of ${HTTP_METHODS.join(', ')}`);
    const problem = typeof r.url === 'string' ? checkRouteUrl(r.url) : 'must be a string';
    if (problem) throw invalid(`routes[${i}].url`, problem);
    if (RESERVED_PATHS.includes(r.url)) throw invalid(`routes[${i}].url`, `${r.url} is served by the host`);
    // Parameter names do not distinguish routes: /a/:x and /a/:y are the same route.
    const shape = `${r.method} ${r.url.replace(/:[A-Za-z0-9_]+/g, ':')}`;
    if (seen.has(shape)) throw invalid(`routes[${i}]`, `${r.method} ${r.url} is defined twice`);
    seen.add(shape);
    if (typeof r.handler !== 'function') throw invalid(`routes[${i}].handler`, 'must be a function');
    if (r.timeoutMs !== undefined && !(Number.isInteger(r.timeoutMs) && r.timeoutMs > 0)) {
      throw invalid(`routes[${i}].timeoutMs`, 'must be a positive integer');
    }
  });
  if (typeof spec.jobs !== 'object' || spec.jobs === null) throw invalid('jobs', 'must be an object of job handlers');
  for (const [name, fn] of Object.entries(spec.jobs)) {
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) throw invalid(`jobs.${name}`, 'job names are letters, digits, . _ - (up to 100)');
    if (typeof fn !== 'function') throw invalid(`jobs.${name}`, 'must be a function');
  }
  const schedules = spec.schedules ?? [];
  const scheduleNames = new Set<string>();
  schedules.forEach((s, i) => {
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(s.name)) throw invalid(`schedules[${i}].name`, 'letters, digits, . _ - (up to 100)');
    if (scheduleNames.has(s.name)) throw invalid(`schedules[${i}].name`, `"${s.name}" is used twice`);
    scheduleNames.add(s.name);
    if (!Object.hasOwn(spec.jobs, s.job)) throw invalid(`schedules[${i}].job`, `no job named "${s.job}"`);
    // 1 s minimum: BullMQ schedules by the millisecond, but a tick every few ms is a bug, not a schedule.
    if (!Number.isInteger(s.everyMs) || s.everyMs < 1_000) throw invalid(`schedules[${i}].everyMs`, 'must be an integer of at least 1000');
  });
  if (!Array.isArray(spec.migrations)) throw invalid('migrations', 'must be an array');
  const ids = new Set<string>();
  spec.migrations.forEach((m, i) => {
    if (typeof m.id !== 'string' || !/^[A-Za-z0-9._-]{1,150}$/.test(m.id)) throw invalid(`migrations[${i}].id`, 'letters, digits, . _ - (up to 150)');
    if (ids.has(m.id)) throw invalid(`migrations[${i}].id`, `"${m.id}" is used twice`);
    ids.add(m.id);
    if (!Array.isArray(m.sql) || m.sql.length === 0 || m.sql.some((s: unknown) => typeof s !== 'string' || s.trim() === '')) {
      throw invalid(`migrations[${i}].sql`, 'must be a non-empty array of SQL statements');
    }
  });
  return Object.freeze({
    ...spec,
    routes: Object.freeze([...spec.routes]),
    jobs: Object.freeze({ ...spec.jobs }),
    schedules: Object.freeze([...schedules]),
    migrations: Object.freeze([...spec.migrations]),
    [APP_BRAND]: true as const,
  });
}

/** True for a value made by defineApp (also across copies of this module). */
export function isAppDefinition(v: unknown): v is AppDefinition {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[APP_BRAND] === true;
}
