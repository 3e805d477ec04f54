import { describeExit, spawnCommand, stopChild, type ExitInfo } from '../app/index.js';
import type { ServiceContext } from '../registry/index.js';
import { once, type Closeable } from '../shared/lifecycle.js';
import { createLogger } from '../shared/log.js';
import { backoffMs } from '../shared/retry.js';
import { startHealthServer } from './health.js';

/** The child must stay up this long to count as started (and for `/healthz` to answer 200). */
const STARTED_MS = 1_000;
/** Crashes within this window count towards crash-looping. */
const CRASH_WINDOW_MS = 60_000;
/** This many crashes within the window is a crash loop: `/healthz` answers 503 and the supervisor's liveness check restarts us. */
const CRASH_LOOP = 3;
/** A child that stayed up this long is stable again: the backoff starts over (the supervisor's STABLE_MS). */
const STABLE_MS = 30_000;

/**
 * `_service worker` of a command app: keeps `worker.command` running. Its exits are restarted here
 * with the supervisor's capped backoff (`supervisor.restartBackoffMinMs`..`MaxMs`, doubling, reset
 * after 30 s up). `GET /healthz` on the worker port: 200 while the command runs (for a second at
 * least) and is not crash-looping (fewer than 3 exits in 60 s), else 503; the worker driver's
 * liveness rule then has the supervisor restart us, with its own backoff.
 *
 * A first run that exits before it was ever up ends us with its status: `up` then stops with the
 * command, its exit status and the log tail rather than waiting out the health timeout.
 */
export async function startCommandWorker(ctx: ServiceContext, command: string): Promise<Closeable> {
  const log = createLogger('worker', { node: ctx.svc.node });
  const cfg = ctx.topo.config.supervisor;
  let closing = false;
  let everUp = false;
  let attempt = 0;
  let restarts = 0;
  let crashes: number[] = [];
  let lastExit: ExitInfo | undefined;
  let current: ReturnType<typeof spawnCommand> | undefined;
  let startedAt = 0;
  let timer: NodeJS.Timeout | undefined;

  const run = (): void => {
    const proc = spawnCommand(ctx, 'worker', command);
    current = proc;
    startedAt = Date.now();
    log.info({ pid: proc.child.pid, command, cwd: ctx.topo.appDir, restarts }, 'worker command started');
    const upTimer = setTimeout(() => (everUp = true), STARTED_MS);
    void proc.exited.then((e) => {
      clearTimeout(upTimer);
      if (closing || current !== proc) return;
      current = undefined;
      lastExit = e;
      const upMs = Date.now() - startedAt;
      process.stderr.write(`hastack: the worker command exited with ${describeExit(e)} after ${upMs} ms: ${command}\n`);
      if (!everUp) {
        process.exit(e.code !== null && e.code !== 0 ? e.code : 1);
      }
      if (upMs > STABLE_MS) attempt = 0;
      const now = Date.now();
      crashes = [...crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
      const delay = backoffMs(attempt++, cfg.restartBackoffMinMs, cfg.restartBackoffMaxMs);
      log.warn({ exit: describeExit(e), delayMs: delay, crashesInWindow: crashes.length }, 'worker command exited; restarting');
      timer = setTimeout(() => {
        restarts += 1;
        run();
      }, delay);
    });
  };

  run();
  const health = await startHealthServer(ctx.svc.address, ctx.svc.port, () => {
    const now = Date.now();
    const recent = crashes.filter((t) => now - t < CRASH_WINDOW_MS).length;
    const running = current !== undefined && now - startedAt >= STARTED_MS;
    const ok = running && recent < CRASH_LOOP;
    const status = !running ? (current ? 'starting' : 'restarting') : ok ? 'running' : 'crash-looping';
    return Promise.resolve({
      ok,
      body: { status, pid: current?.child.pid ?? null, restarts, crashesLastMinute: recent, lastExit: lastExit ? describeExit(lastExit) : null },
    });
  });
  const close = once(async () => {
    closing = true;
    clearTimeout(timer);
    await health.close();
    // 10 s for the job it holds: below the descriptor's 15 s grace.
    if (current) await stopChild(current.child, current.exited, 10_000);
  });
  return { close };
}
