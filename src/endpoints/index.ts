/**
 * The local endpoints (issue 19): `db-endpoint`, `db-read-endpoint` and `redis-endpoint` on every
 * node that carries an app or a worker, so that an app in any language reaches the current
 * database writer, a readable node, and the Redis master at fixed local addresses. See README.md.
 */
import type { ServiceContext } from '../registry/index.js';
import type { Closeable } from '../shared/lifecycle.js';
import { createLogger } from '../shared/log.js';

export { readStatus, statusSocketPath } from './status.js';
export type { EndpointStatus } from './status.js';

/** `_service db-endpoint|db-read-endpoint|redis-endpoint`: runs until closed. */
export async function startEndpoint(ctx: ServiceContext): Promise<Closeable> {
  const log = createLogger(ctx.svc.kind, { service: ctx.svc.id });
  // Loaded here, not at the top: the drivers import this file for the status probe alone, and
  // should not pull mysql2 and ioredis into every process that loads them.
  if (ctx.svc.kind === 'db-endpoint') return (await import('./db.js')).startDbEndpoint(ctx, log);
  if (ctx.svc.kind === 'db-read-endpoint') return (await import('./db.js')).startDbReadEndpoint(ctx, log);
  return (await import('./redis.js')).startRedisEndpoint(ctx, log);
}
