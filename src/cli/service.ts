import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SERVICE_KINDS, findService, serviceEnvironment, readSecrets, readTopology, servicesOf, type ServiceKind } from '../config/index.js';
import { isOwnKind, type OwnKind, type ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import type { Closeable } from '../shared/lifecycle.js';

// Imported lazily: a DNS or load-balancer process then loads only its own tier, not Fastify,
// BullMQ and mysql2 (measured: about 40 MB less RSS per process).
// A command app's app and worker (app.command, worker.command) are a small parent of the command.
const starters: Record<OwnKind, (ctx: ServiceContext) => Promise<(ctx: ServiceContext) => Promise<Closeable>>> = {
  app: async (ctx) => {
    const command = ctx.topo.config.app.command;
    if (command !== undefined) {
      const { startCommandApp } = await import('../app/command.js');
      return (c) => startCommandApp(c, command);
    }
    return (await import('../app/index.js')).startAppServer;
  },
  worker: async (ctx) => {
    const command = ctx.topo.config.worker.command;
    if (command !== undefined) {
      const { startCommandWorker } = await import('../worker/command.js');
      return (c) => startCommandWorker(c, command);
    }
    return (await import('../worker/index.js')).startWorker;
  },
  lb: async () => (await import('../lb/index.js')).startLb,
  dns: async () => (await import('../dns/index.js')).startDns,
  'db-endpoint': async () => (await import('../endpoints/index.js')).startEndpoint,
  'db-read-endpoint': async () => (await import('../endpoints/index.js')).startEndpoint,
  'redis-endpoint': async () => (await import('../endpoints/index.js')).startEndpoint,
};

function contextFor(stateDir: string, node: string, kind: ServiceKind): ServiceContext {
  const topo = readTopology(stateDir);
  const svc = findService(topo, node, kind);
  if (!svc) throw new HastackError(ErrorCode.CONFIG_INVALID, `node "${node}" has no ${kind} service in ${stateDir}/topology.json`);
  // On hosts the service runs as its own user and reads its own copy of the secrets (written by
  // its prepare, readable by it alone); the node's secrets.json is root's.
  const secretsDir = fs.existsSync(path.join(svc.dir, 'secrets.json')) ? svc.dir : stateDir;
  return { topo, secrets: readSecrets(secretsDir), svc, asRoot: os.userInfo().uid === 0 };
}

/** `_service KIND`: one of our tiers as its own OS process, until SIGTERM/SIGINT. */
export async function runService(kind: string, stateDir: string, node: string): Promise<void> {
  if (!isOwnKind(kind)) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `"${kind}" is not a hastack service (one of ${SERVICE_KINDS.filter(isOwnKind).join(', ')})`);
  }
  const ours = kind;
  // stdout and stderr are the service's log file: on a full disk a write fails with an 'error'
  // event, which unhandled would end the service over a log line.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const ctx = contextFor(stateDir, node, ours);
  if (ours === 'app' || ours === 'worker') {
    // The environment contract, module apps too: in this process's environment only (the unit
    // file and argv never hold a password), where an app's own libraries can read it.
    Object.assign(process.env, serviceEnvironment(ctx.topo, ctx.secrets, ctx.svc, ours));
  }
  const start = await starters[ours](ctx);
  const running = await start(ctx);
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    running.close().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`close failed: ${describeError(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** `_migrate`: applies the app's migrations once (the app tier holds a cluster-wide lock). */
export async function runMigrate(stateDir: string): Promise<void> {
  const topo = readTopology(stateDir);
  const app = servicesOf(topo, 'app')[0];
  if (!app) throw new HastackError(ErrorCode.CONFIG_INVALID, 'the cluster has no app service to migrate for');
  const command = topo.config.app.command;
  if (command !== undefined) {
    const migrate = topo.config.app.migrate;
    if (migrate === undefined) {
      process.stdout.write('no app.migrate: nothing to run\n');
      return;
    }
    const { runMigrateCommand } = await import('../app/command.js');
    await runMigrateCommand(contextFor(stateDir, app.node, 'app'), migrate);
    return;
  }
  const { runMigrations } = await import('../app/index.js');
  const result = await runMigrations(contextFor(stateDir, app.node, 'app'));
  process.stdout.write(`migrations applied: ${result.applied.length === 0 ? 'none (up to date)' : result.applied.join(', ')}\n`);
}
