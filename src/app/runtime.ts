import { servicesOf } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { closeAll } from '../shared/lifecycle.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { createCacheClient, type CacheClient } from '../clients/cache/index.js';
import { createDbClient, type DbClient } from '../clients/db/index.js';
import { createRedisHandle, createReplicaReader, JobQueue, type RedisHandle } from '../clients/redis/index.js';
import type { AppContext, AppDefinition, AppLogger, AppQueue, Counters, JsonValue, SessionStore } from './contract.js';
import { redisCounters, redisSessionStore } from './session.js';

/** Everything an app needs at run time in one process (app server or worker), built once. */
export interface AppRuntime {
  readonly app: AppDefinition;
  readonly node: string;
  readonly db: DbClient;
  readonly cache: CacheClient;
  readonly redis: RedisHandle;
  readonly queue: JobQueue;
  /** An AppContext whose `log` is `log` (a child logger with the request or job id). */
  context(log: Logger): AppContext;
  close(): Promise<void>;
}

/** pino's `(fields, msg)` order turned into the contract's `(msg, fields)`. */
export function appLogger(l: Logger): AppLogger {
  return {
    debug: (msg, fields) => l.debug(fields ?? {}, msg),
    info: (msg, fields) => l.info(fields ?? {}, msg),
    warn: (msg, fields) => l.warn(fields ?? {}, msg),
    error: (msg, fields) => l.error(fields ?? {}, msg),
  };
}

/**
 * How long an enqueue may wait for a Redis master: Sentinel needs `down-after` to notice a dead
 * master, then ~1 s to elect, promote and for clients to reconnect (ENGINE-NOTES: 2.2-2.5 s at
 * 1 s down-after). Twice down-after plus 2 s covers that with margin (5 s at the default 1.5 s)
 * and stays well inside the request timeout.
 */
export function enqueueTimeoutMs(ctx: ServiceContext): number {
  return 2 * ctx.topo.config.redis.downAfterMs + 2_000;
}

/** The BullMQ queue of an app (keys `hastack:<app>:...`). */
export function queueNameOf(app: AppDefinition): string {
  return app.name;
}

export function openAppRuntime(ctx: ServiceContext, app: AppDefinition, log: Logger, role: 'app' | 'worker'): AppRuntime {
  const node = ctx.svc.node;
  // Checked before any connection opens: without the key no session could be stored safely.
  const sessionKey = ctx.secrets.sessionKey;
  if (sessionKey === undefined) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `secrets.json of cluster ${ctx.topo.cluster} has no "sessionKey" (written by an older hastack): run "hastack up" (or "hastack deploy" on hosts), which adds it`,
    );
  }
  const db = createDbClient(ctx.topo, ctx.secrets, log.child({ client: 'db' }));
  const cache = createCacheClient(ctx.topo, { log: log.child({ client: 'cache' }) });
  const redis = createRedisHandle(ctx.topo, ctx.secrets, `hastack-${role}-${node}`, log.child({ client: 'redis' }));
  // WAIT holds the connection it runs on until a replica acknowledges or its bound passes: 500 ms
  // for every enqueue on a master whose replicas are cut off (a partition), and every command
  // behind it on that socket waits as long. So the writes that WAIT (enqueue, logout) get a
  // connection of their own: no session check, counter or readiness PING queues behind one
  // (measured: session checks on the cut-off side took 400-600 ms while they shared it).
  const durable = createRedisHandle(ctx.topo, ctx.secrets, `hastack-${role}-${node}-durable`, log.child({ client: 'redis-durable' }));
  // Durable enqueue (WAIT for a replica) is the default wherever there is a replica to wait for.
  const durableByDefault = servicesOf(ctx.topo, 'redis').length > 1;
  const queue = new JobQueue(durable, queueNameOf(app), { timeoutMs: enqueueTimeoutMs(ctx), log, durableByDefault });
  const appCache = cache.withPrefix(`${app.name}:`);
  // Session ids and counter names are stored as HMACs under the cluster's sessionKey (secrets.json).
  // Session checks read a replica while Sentinel elects: one followed its master up to the
  // failover window (the enqueue bound: down-after twice plus the election) ago.
  const replicas =
    role === 'app'
      ? createReplicaReader(ctx.topo, ctx.secrets, `hastack-${role}-${node}-replica-reads`, Math.ceil(enqueueTimeoutMs(ctx) / 1_000), log.child({ client: 'redis-replicas' }))
      : undefined;
  const session: SessionStore = redisSessionStore(redis, app.name, enqueueTimeoutMs(ctx), sessionKey, { durable, ...(replicas ? { replicas } : {}) });
  const counters: Counters = redisCounters(redis, app.name, enqueueTimeoutMs(ctx), sessionKey);
  const appQueue: AppQueue = {
    add: (name: string, data?: JsonValue, opts?) => {
      // A typo in a job name would otherwise sit in Redis forever, failing on every worker.
      if (!Object.hasOwn(app.jobs, name)) {
        return Promise.reject(new HastackError(ErrorCode.APP_INVALID, `no job named "${name}" in app ${app.name} (jobs: ${Object.keys(app.jobs).join(', ')})`));
      }
      return queue.add(name, data ?? null, opts);
    },
  };
  let closed: Promise<void> | undefined;
  return {
    app,
    node,
    db,
    cache,
    redis,
    queue,
    // A fresh database session per request or job: read-your-writes within it (see SessionDb).
    context: (l: Logger): AppContext => ({ app: app.name, node, db: db.session(), cache: appCache, queue: appQueue, session, counters, log: appLogger(l) }),
    close: () => (closed ??= closeAll([() => queue.close(), () => durable.close(), () => redis.close(), async () => replicas?.close(), () => cache.close(), () => db.close()])),
  };
}
