import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { appEnvironment, type AppProcess } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { once, type Closeable } from '../shared/lifecycle.js';
import { createLogger } from '../shared/log.js';
import { sleep } from '../shared/retry.js';
import { createDbClient } from '../clients/db/index.js';
import { withClusterLock } from './cluster-lock.js';
import { MIGRATION_LOCK } from './migrate.js';

/**
 * Command apps (`app.command`, `worker.command`, `app.migrate`): any program, run with
 * `/bin/sh -c` in `app.dir` with the environment contract.
 *
 * hastack runs each under a small Node parent (`_service app|worker`, `_migrate`) rather than
 * handing the command to the supervisor or systemd directly: the parent reads the secrets from
 * the node's own secrets.json and puts them into the child's environment only, so no password is
 * ever in argv, in a unit file or in a log. The child stays in the parent's process group (and
 * systemd unit), so a kill of the service (a chaos fault, `down`) reaches both.
 */

/** The shell every command runs under: `$HOST`, `$PORT` and the rest expand there. */
const SHELL = '/bin/sh';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export function describeExit(e: ExitInfo): string {
  return e.signal !== null ? `signal ${e.signal}` : `exit status ${e.code ?? '?'}`;
}

/** The command's environment: ours (PATH, LANG, ...), then the contract; an app's HOST/PORT are its service's. */
export function commandEnv(ctx: ServiceContext, who: AppProcess): NodeJS.ProcessEnv {
  const contract = appEnvironment(ctx.topo, ctx.secrets, ctx.svc.node, who);
  const own = who === 'app' ? { HOST: ctx.svc.address, PORT: String(ctx.svc.port) } : {};
  return { ...process.env, ...contract, ...own };
}

/** Starts `command` with the contract; its output goes where ours goes (the service's log). */
export function spawnCommand(ctx: ServiceContext, who: AppProcess, command: string): { child: ChildProcess; exited: Promise<ExitInfo> } {
  const cwd = ctx.topo.appDir;
  if (!fs.existsSync(cwd) || !fs.statSync(cwd).isDirectory()) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `app.dir ${cwd} is not a directory (it is relative to hastack.yaml; on hosts, deploy ships it)`);
  }
  const child = spawn(SHELL, ['-c', command], { cwd, env: commandEnv(ctx, who), stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: 127, signal: null }));
  });
  return { child, exited };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
export async function stopChild(child: ChildProcess, exited: Promise<ExitInfo>, graceMs: number): Promise<ExitInfo> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const abort = new AbortController();
  const late = await Promise.race([
    exited.then(() => false),
    sleep(graceMs, abort.signal).then(
      () => true,
      () => false,
    ),
  ]);
  abort.abort();
  if (late) child.kill('SIGKILL');
  return exited;
}

/**
 * `_service app` of a command app: runs `app.command` and mirrors it: when the command exits, so
 * do we, with its status, after a line naming the command and the status (the last line of the
 * log tail `up` shows when a command exits at once). Readiness is the supervisor's and the load
 * balancers' probe of `app.healthPath`.
 */
export function startCommandApp(ctx: ServiceContext, command: string): Promise<Closeable> {
  const log = createLogger('app', { node: ctx.svc.node });
  const { child, exited } = spawnCommand(ctx, 'app', command);
  let closing = false;
  void exited.then((e) => {
    if (closing) return;
    process.stderr.write(`hastack: the app command exited with ${describeExit(e)}: ${command}\n`);
    process.exit(e.code !== null && e.code !== 0 ? e.code : 1);
  });
  log.info({ pid: child.pid, command, cwd: ctx.topo.appDir }, 'app command started');
  // 10 s: the app's own graceful stop (gunicorn finishes requests in flight); below the descriptor's 15 s grace.
  const close = once(async () => {
    closing = true;
    const e = await stopChild(child, exited, 10_000);
    log.info({ exit: describeExit(e) }, 'app command stopped');
  });
  return Promise.resolve({ close });
}

/** How long `app.migrate` may run (ms); the supervisor's own bound (120 s) kills us after that anyway. */
const MIGRATE_LOCK_WAIT_MS = 30_000;

/**
 * `_migrate` of a command app: runs `app.migrate` once under the cluster-wide lock `migrations`
 * (src/app/cluster-lock.ts), with the contract of the first app node. Its output is ours (the
 * supervisor's migrate.log, then the event log). Throws with its exit status on failure.
 */
export async function runMigrateCommand(ctx: ServiceContext, command: string): Promise<void> {
  const log = createLogger('migrate', { node: ctx.svc.node });
  const db = createDbClient(ctx.topo, ctx.secrets, log);
  try {
    await withClusterLock(
      db,
      MIGRATION_LOCK,
      async () => {
        process.stdout.write(`hastack: running app.migrate under the cluster-wide lock "${MIGRATION_LOCK}": ${command}\n`);
        const { exited } = spawnCommand(ctx, 'migrate', command);
        const e = await exited;
        if (e.code !== 0) {
          throw new HastackError(ErrorCode.SETUP_FAILED, `app.migrate exited with ${describeExit(e)}: ${command}`, { details: { code: e.code, signal: e.signal } });
        }
        process.stdout.write(`hastack: app.migrate done (exit status 0)\n`);
      },
      { log, waitMs: MIGRATE_LOCK_WAIT_MS },
    );
  } finally {
    await db.close();
  }
}
