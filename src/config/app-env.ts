import { ErrorCode, HastackError } from '../shared/errors.js';
import type { ContractEnvName } from './app-schema.js';
import { DEFAULT_PORTS, type Config, type EndpointKind } from './schema.js';
import type { Secrets } from './secrets.js';
import type { ServiceInstance, Topology } from './topology.js';

/**
 * The environment contract: what every app, worker and migrate process gets, module apps too
 * (README "Bring your own app: the environment contract"). One place computes it from the
 * topology and the secrets; the drivers, `app.migrate` and `hastack env` all call this.
 *
 * Secrets (the database and Redis passwords) go into the process environment only: never into
 * argv, a log or a file (a process's environment is readable by its own user and root alone,
 * /proc/PID/environ is 0400).
 */

/** The MariaDB account the engine driver creates for applications (src/engines/mariadb-accounts.ts). */
export const DB_APP_USER = 'hastack';

/** A local endpoint's port on every node: `ports[kind]`, else its default (src/endpoints). */
function endpointPort(config: Pick<Config, 'ports'>, kind: EndpointKind): number {
  return config.ports[kind] ?? DEFAULT_PORTS[kind];
}

/** Which process the environment is for: an app server, a worker, or the `app.migrate` command. */
export type AppProcess = 'app' | 'worker' | 'migrate';

export type AppEnvironment = Readonly<Record<string, string>>;

type ContractSecrets = Pick<Secrets, 'dbAppPassword' | 'redisPassword' | 'sentinelPassword'>;

/**
 * The environment of `process` on `node`: the contract, then `app.env` (and `worker.env` for a
 * worker). The schema refuses extra names that collide with the contract, so order cannot hide one.
 * Throws NODE_HAS_NO_APP for a node that carries neither app nor worker.
 */
export function appEnvironment(topo: Topology, secrets: ContractSecrets, node: string, process: AppProcess): AppEnvironment {
  const n = topo.nodes.find((x) => x.name === node);
  if (!n) throw new HastackError(ErrorCode.NOT_FOUND, `no node "${node}" in cluster ${topo.cluster}; nodes: ${topo.nodes.map((x) => x.name).join(', ')}`);
  if (!n.services.includes('app') && !n.services.includes('worker')) {
    const carriers = topo.nodes.filter((x) => x.services.includes('app') || x.services.includes('worker')).map((x) => x.name);
    throw new HastackError(
      ErrorCode.NODE_HAS_NO_APP,
      `node "${node}" carries neither "app" nor "worker", so no process there gets the environment contract; ask one of: ${carriers.join(', ') || '(none)'}`,
      { details: { node } },
    );
  }
  const c = topo.config;
  const host = n.address;
  const dbPort = endpointPort(c, 'db-endpoint');
  const dbReadPort = endpointPort(c, 'db-read-endpoint');
  const redisPort = endpointPort(c, 'redis-endpoint');
  const user = encodeURIComponent(DB_APP_USER);
  const dbPass = encodeURIComponent(secrets.dbAppPassword);
  const db = encodeURIComponent(c.database.name);
  const hostPort = (kind: 'sentinel' | 'memcached'): string =>
    topo.services
      .filter((s) => s.kind === kind)
      .map((s) => `${s.address}:${s.port}`)
      .join(',');
  // A worker serves no traffic (the worker port holds hastack's health endpoint for it): its PORT
  // is the app tier's, what an app server on the same node listens on.
  const appPort = topo.services.find((s) => s.kind === 'app')?.port ?? c.ports.app ?? 8000;
  const contract: Record<ContractEnvName, string> = {
    HOST: host,
    PORT: String(appPort),
    HASTACK_NODE: node,
    DATABASE_URL: `mysql://${user}:${dbPass}@${host}:${dbPort}/${db}`,
    DATABASE_READ_URL: `mysql://${user}:${dbPass}@${host}:${dbReadPort}/${db}`,
    DB_HOST: host,
    DB_PORT: String(dbPort),
    DB_READ_PORT: String(dbReadPort),
    DB_USER: DB_APP_USER,
    DB_PASSWORD: secrets.dbAppPassword,
    DB_NAME: c.database.name,
    REDIS_URL: `redis://:${encodeURIComponent(secrets.redisPassword)}@${host}:${redisPort}/0`,
    REDIS_SENTINELS: hostPort('sentinel'),
    REDIS_MASTER_NAME: c.redis.masterName,
    REDIS_SENTINEL_PASSWORD: secrets.sentinelPassword,
    MEMCACHED_SERVERS: hostPort('memcached'),
  };
  // A topology.json written before these keys existed has neither: no extra variables then.
  const older = c as Partial<Pick<Config, 'worker'>> & { app: Partial<Config['app']> };
  return { ...contract, ...(older.app.env ?? {}), ...(process === 'worker' ? (older.worker?.env ?? {}) : {}) };
}

/** The contract `process` on `svc`'s node gets; an app server's HOST/PORT are its own service's. */
export function serviceEnvironment(topo: Topology, secrets: ContractSecrets, svc: Pick<ServiceInstance, 'node' | 'address' | 'port'>, process: AppProcess): AppEnvironment {
  const env = appEnvironment(topo, secrets, svc.node, process);
  return process === 'app' ? { ...env, HOST: svc.address, PORT: String(svc.port) } : env;
}

export const MASK = '********';

/** Names whose value is a secret: the contract's passwords, and extra variables named like one. */
const SECRET_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL/i;

/**
 * The environment with every secret masked, for printing: the passwords, the password inside each
 * URL, and any extra variable whose name looks like a secret (`SECRET_KEY`, `API_TOKEN`).
 */
export function maskAppEnvironment(env: AppEnvironment): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (SECRET_NAME.test(k)) out[k] = MASK;
    else if (/^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(v)) out[k] = v.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^/@]*@/i, `$1:${MASK}@`);
    else out[k] = v;
  }
  return out;
}
