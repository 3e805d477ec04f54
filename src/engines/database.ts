import type { Secrets, Topology } from '../config/index.js';
import { galeraDriver, prepareGaleraStart } from './galera.js';
import { mariadbDriver, mariadbStartOrder } from './mariadb.js';
import type { ServiceContext, ServiceDriver } from '../registry/index.js';

/**
 * The `mariadb` service's driver: `database.mode` picks the engine setup (replication in
 * mariadb.ts, galera in galera.ts). A dispatcher rather than a branch inside either driver, so
 * neither module imports the other's decisions.
 */
function pick(ctx: ServiceContext): ServiceDriver {
  return ctx.topo.config.database.mode === 'galera' ? galeraDriver : mariadbDriver;
}

export const databaseDriver: ServiceDriver = {
  prepare: (ctx) => pick(ctx).prepare(ctx),
  command: (ctx) => pick(ctx).command(ctx),
  probe: (ctx, timeoutMs) => pick(ctx).probe(ctx, timeoutMs),
  afterHealthy: async (ctx) => pick(ctx).afterHealthy?.(ctx),
  logFiles: (ctx) => pick(ctx).logFiles?.(ctx) ?? [],
};

/**
 * The database node `up` starts first, alone. Replication: the node recorded as primary. Galera:
 * the node chosen to bootstrap (the first at a brand-new cluster, else the full-cluster recovery
 * plan's choice, which this runs: see prepareGaleraStart).
 */
export async function firstDatabaseNode(
  topo: Topology,
  secrets: Secrets,
  asRoot: boolean,
  log: (message: string, data?: Record<string, unknown>) => void,
): Promise<string | undefined> {
  if (topo.config.database.mode === 'galera') return prepareGaleraStart(topo, secrets, asRoot, log);
  return mariadbStartOrder(topo)[0]?.node;
}
