import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { serviceEnvironment, type AppProcess } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { once, type Closeable } from '../shared/lifecycle.js';
import { createLogger } from '../shared/log.js';
import { sleep } from '../shared/retry.js';
import { createDbClient } from '../clients/db/index.js';
import { withClusterLock } from './cluster-lock.js';
import { MIGRATION_LOCK } from './migrate.js';
import { startCommandReadiness } from './command-ready.js';
import { defaultDrainDelay as drainDelay } from './drain.js';

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

/**
 * Starts `command` under the shell in app.dir with ours (PATH, LANG, ...) and the contract. Its
 * output goes where ours goes (the service's log), or to pipes the caller reads (`stdio: 'pipe'`).
 */
export function spawnCommand(ctx: ServiceContext, who: AppProcess, command: string, stdio: 'inherit' | 'pipe' = 'inherit'): { child: ChildProcess; exited: Promise<ExitInfo> } {
  const cwd = ctx.topo.appDir;
  if (!fs.existsSync(cwd) || !fs.statSync(cwd).isDirectory()) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `app.dir ${cwd} is not a directory (it is relative to hastack.yaml; on hosts, deploy ships it)`);
  }
  const child = spawn(SHELL, ['-c', command], { cwd, env: { ...process.env, ...serviceEnvironment(ctx.topo, ctx.secrets, ctx.svc, who) }, stdio: ['ignore', stdio, stdio] });
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (e) => {
      // The shell could not be started (most often: this service's account cannot enter app.dir).
      process.stderr.write(`hastack: cannot start ${SHELL} in ${cwd} as this service's user: ${e.message}; the app's files must be readable by it\n`);
      resolve({ code: 127, signal: null });
    });
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
export async function startCommandApp(ctx: ServiceContext, command: string): Promise<Closeable> {
  const log = createLogger('app', { node: ctx.svc.node });
  // The drain signal first: a port already taken fails the start before the command runs.
  const readiness = await startCommandReadiness(ctx);
  const { child, exited } = spawnCommand(ctx, 'app', command);
  let closing = false;
  void exited.then((e) => {
    if (closing) return;
    process.stderr.write(`hastack: the app command exited with ${describeExit(e)}: ${command}\n`);
    process.exit(e.code !== null && e.code !== 0 ? e.code : 1);
  });
  log.info({ pid: child.pid, command, cwd: ctx.topo.appDir }, 'app command started');
  // Drain, as a module app does (src/app/host.ts): /readyz turns 503 and the command keeps serving
  // until every load balancer has seen it (their probe interval × fall + timeout), so new requests
  // go elsewhere; only then SIGTERM, and the app's own graceful stop finishes the requests in
  // flight (10 s; gunicorn's graceful_timeout). Drain + 10 s stays below the unit's 15 s stop
  // grace. The service's stop signal reaches this process only (KillMode=mixed, the keeper and
  // the supervisor likewise), so the command is not stopped before the drain.
  const drainDelayMs = drainDelay(ctx);
  const close = once(async () => {
    closing = true;
    readiness.drain();
    log.info({ drainDelayMs }, 'draining: /readyz answers 503');
    if (drainDelayMs > 0 && child.exitCode === null && child.signalCode === null) await sleep(drainDelayMs);
    const e = await stopChild(child, exited, 10_000);
    await readiness.close();
    log.info({ exit: describeExit(e) }, 'app command stopped');
  });
  return { close };
}

/** How long `app.migrate` waits for another migrator's lock (ms); the run itself is bounded by the supervisor (120 s) or deploy. */
const MIGRATE_LOCK_WAIT_MS = 30_000;

/**
 * `_migrate` of a command app: runs `app.migrate` once under the cluster-wide lock `migrations`
 * (src/app/cluster-lock.ts), with the contract of the first app node. Its output is ours (the
 * supervisor's migrate.log, then the event log). Throws with its exit status on failure.
 */
export async function runMigrateCommand(ctx: ServiceContext, command: string): Promise<void> {
  const log = createLogger('migrate', { node: ctx.svc.node });
  const db = createDbClient(ctx.topo, ctx.secrets, log);
  // Set while the command runs: a lease lost to another migrator stops it rather than letting two run.
  let stopRunning: (() => void) | undefined;
  try {
    await withClusterLock(
      db,
      MIGRATION_LOCK,
      async () => {
        process.stdout.write(`hastack: running app.migrate under the cluster-wide lock "${MIGRATION_LOCK}": ${command}\n`);
        const { child, exited } = spawnCommand(ctx, 'migrate', command);
        stopRunning = () => void stopChild(child, exited, 10_000);
        const e = await exited;
        stopRunning = undefined;
        if (e.code !== 0) {
          throw new HastackError(ErrorCode.SETUP_FAILED, `app.migrate exited with ${describeExit(e)}: ${command}`, { details: { code: e.code, signal: e.signal } });
        }
        process.stdout.write(`hastack: app.migrate done (exit status 0)\n`);
      },
      { log, waitMs: MIGRATE_LOCK_WAIT_MS, onLost: () => stopRunning?.() },
    );
  } finally {
    await db.close();
  }
}
