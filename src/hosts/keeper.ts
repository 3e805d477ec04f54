import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { readJsonState, writeJsonAtomic } from '../shared/files.js';
import { truncateIfOver } from '../shared/logfile.js';
import { backoffMs, sleep } from '../shared/retry.js';
import { LocalSubstrate, processCommandLine, processStartTime } from '../substrate/index.js';
import { nextTimerFire } from './keeper-timer.js';
import type { UnitSpec } from './units.js';

/**
 * hastack's keeper: where systemd is not PID 1 (containers, our test bed), one small detached
 * process per unit does what `Restart=always` does: runs `pre`, then `exec`, restarts it after
 * every exit with capped backoff and never gives up, forwards SIGTERM (SIGKILL after the unit's
 * stop timeout) and exits. It records its pids in `<stateDir>/units/<name>.state.json`.
 */

const unitSpecSchema = z.object({
  name: z.string(),
  role: z.enum(['service', 'controller', 'backup', 'keepalived', 'archive']),
  serviceId: z.string().optional(),
  description: z.string(),
  pre: z.array(z.string()),
  exec: z.array(z.string()).min(1),
  env: z.record(z.string()),
  cwd: z.string(),
  stopTimeoutMs: z.number(),
  restartSec: z.number(),
  restartMaxSec: z.number(),
  startTimeoutMs: z.number(),
  limits: z.object({ nofile: z.number() }),
  logFile: z.string(),
  conflicts: z.array(z.string()).optional(),
  user: z.string().optional(),
  writablePaths: z.array(z.string()).optional(),
  capabilities: z.array(z.string()).optional(),
  killMode: z.literal('mixed').optional(),
  timer: z
    .union([
      z.object({ kind: z.literal('interval'), onActiveSec: z.string(), onUnitActiveSec: z.string() }),
      z.object({ kind: z.literal('calendar'), onCalendar: z.array(z.string()), cron: z.string() }),
    ])
    .optional(),
}) satisfies z.ZodType<UnitSpec>;

export const keeperStateSchema = z.object({
  keeperPid: z.number().int(),
  /** /proc start time of the keeper, so a reused pid is never taken for it. */
  keeperStartMs: z.number(),
  /** `pre`: running the prepare step; `exec`: the service runs; `backoff`: waiting to restart; `timer`: a scheduled unit waiting for its next run. */
  phase: z.enum(['pre', 'exec', 'backoff', 'timer', 'stopped', 'killed']),
  childPid: z.number().int().optional(),
  childStartMs: z.number().optional(),
  restarts: z.number().int(),
  /** When the current service process started (ISO). */
  since: z.string().optional(),
});
export type KeeperState = z.infer<typeof keeperStateSchema>;

export function unitsDir(stateDir: string): string {
  return path.join(stateDir, 'units');
}

export function specFile(stateDir: string, name: string): string {
  return path.join(unitsDir(stateDir), `${name}.json`);
}

export function stateFileOf(unitFile: string): string {
  return unitFile.replace(/\.json$/, '.state.json');
}

/** The keeper's spec file content (what `plan` compares and `apply` writes). */
export function renderSpec(spec: UnitSpec): string {
  return JSON.stringify(spec, null, 2) + '\n';
}

export function readSpec(unitFile: string): UnitSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(unitFile, 'utf8'));
  } catch (e) {
    throw new HastackError(ErrorCode.NOT_FOUND, `cannot read the unit ${unitFile} (${describeError(e)}); run "hastack deploy" to install it`);
  }
  const parsed = unitSpecSchema.safeParse(raw);
  if (!parsed.success)
    throw new HastackError(ErrorCode.CONFIG_INVALID, `${unitFile} is not a hastack unit (${parsed.error.issues[0]?.message ?? 'invalid'}); run "hastack deploy" to rewrite it`);
  return parsed.data;
}

export function readKeeperState(unitFile: string): KeeperState | undefined {
  try {
    return readKeeperStateStrict(unitFile);
  } catch {
    return undefined;
  }
}

/**
 * The keeper's state; undefined only when there is none. A corrupt one throws (STATE_CORRUPT):
 * read as "no keeper", a second keeper would start beside a running one and its service.
 */
export function readKeeperStateStrict(unitFile: string): KeeperState | undefined {
  return readJsonState<KeeperState>(
    stateFileOf(unitFile),
    (v) => (keeperStateSchema.safeParse(v).success ? undefined : 'not a keeper state'),
    `A keeper and its service may still run: find them ("ps -ef | grep '_keep --unit ${unitFile}'"), stop them by pid, then remove the file and start again`,
  );
}

const local = new LocalSubstrate();

/** `pid` is alive and is the process that started at `startMs` (not a newer one reusing the pid). */
function sameProcess(pid: number | undefined, startMs: number | undefined): pid is number {
  if (pid === undefined || startMs === undefined || !local.isAlive(pid)) return false;
  const now = processStartTime(pid);
  return now !== undefined && Math.abs(now - startMs) < 1;
}

/** The keeper of `unitFile` is running: the recorded pid, started then, running `_keep --unit FILE`. */
export function keeperAlive(unitFile: string, st: KeeperState | undefined = readKeeperState(unitFile)): boolean {
  if (!st || !sameProcess(st.keeperPid, st.keeperStartMs)) return false;
  const cmd = processCommandLine(st.keeperPid) ?? '';
  return cmd.includes('_keep') && cmd.includes(unitFile);
}

/** The service (or pre) process the keeper recorded, if it is still that very process. */
export function childAlive(st: KeeperState | undefined): number | undefined {
  return st && sameProcess(st.childPid, st.childStartMs) ? st.childPid : undefined;
}

/** Signals a whole process group we started (the child leads its own group: spawn detached). */
function signalGroup(pid: number, sig: NodeJS.Signals): void {
  local.signal(pid, sig);
}

/** How long `start` waits for a new keeper to record itself: node starts in well under a second. */
const KEEPER_BOOT_MS = 10_000;

/** Starts the keeper of a unit unless it runs already. Returns its pid. */
export async function startKeeper(unitFile: string, opts: { nodeBin: string; cliMain: string }): Promise<number> {
  const spec = readSpec(unitFile);
  const st = readKeeperStateStrict(unitFile);
  if (st && keeperAlive(unitFile, st)) return st.keeperPid;
  // A keeper that was killed leaves its service running, unsupervised; a second copy would find
  // its port taken, so that one goes first.
  const orphan = childAlive(st);
  if (orphan !== undefined) await terminateGroup(orphan, st?.childStartMs, spec.stopTimeoutMs);
  fs.mkdirSync(path.dirname(spec.logFile), { recursive: true });
  const fd = fs.openSync(spec.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.nodeBin, [opts.cliMain, '_keep', '--unit', unitFile], {
      // A session of its own: the keeper outlives the ssh session and the agent that started it.
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: '/',
    });
  } finally {
    fs.closeSync(fd);
  }
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new HastackError(ErrorCode.ENGINE_START_FAILED, `could not start the keeper of ${spec.name}; see ${spec.logFile}`);
  const deadline = Date.now() + KEEPER_BOOT_MS;
  while (Date.now() < deadline) {
    const now = readKeeperState(unitFile);
    if (now?.keeperPid === pid) return pid;
    if (!local.isAlive(pid)) break;
    await sleep(50);
  }
  throw new HastackError(ErrorCode.ENGINE_START_FAILED, `the keeper of ${spec.name} (pid ${pid}) did not come up within ${KEEPER_BOOT_MS} ms; see ${spec.logFile}`);
}

async function waitGone(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!check()) return true;
    await sleep(50);
  }
  return !check();
}

async function terminateGroup(pid: number, startMs: number | undefined, graceMs: number): Promise<void> {
  if (!sameProcess(pid, startMs)) return;
  signalGroup(pid, 'SIGTERM');
  if (await waitGone(() => sameProcess(pid, startMs), graceMs)) return;
  if (sameProcess(pid, startMs)) signalGroup(pid, 'SIGKILL');
  await waitGone(() => sameProcess(pid, startMs), 5_000);
}

/** Stops a unit: SIGTERM to its keeper, which stops the service and exits. Idempotent. */
export async function stopKeeper(unitFile: string): Promise<void> {
  const spec = readSpec(unitFile);
  const st = readKeeperState(unitFile);
  if (st && keeperAlive(unitFile, st)) {
    process.kill(st.keeperPid, 'SIGTERM');
    // The keeper waits the stop timeout before SIGKILL; 5 s more for it to notice and exit.
    const gone = await waitGone(() => keeperAlive(unitFile, st), spec.stopTimeoutMs + 5_000);
    if (!gone) await killKeeper(unitFile);
  }
  const after = readKeeperState(unitFile);
  const child = childAlive(after);
  if (child !== undefined) await terminateGroup(child, after?.childStartMs, spec.stopTimeoutMs);
}

/**
 * `node-down`: SIGKILL the keeper first (so nothing restarts the service), then the service's
 * whole process group; only processes whose pid and start time match what the keeper recorded.
 */
export async function killKeeper(unitFile: string): Promise<number[]> {
  const st = readKeeperState(unitFile);
  const killed: number[] = [];
  if (st && keeperAlive(unitFile, st)) {
    process.kill(st.keeperPid, 'SIGKILL');
    killed.push(st.keeperPid);
  }
  const child = childAlive(st);
  if (child !== undefined) {
    signalGroup(child, 'SIGKILL');
    killed.push(child);
  }
  await waitGone(() => keeperAlive(unitFile, st) || childAlive(st) !== undefined, 5_000);
  if (st) writeJsonAtomic(stateFileOf(unitFile), { ...st, phase: 'killed' });
  return killed;
}

// 64 MiB per service log, as the supervisor's bound on the local and netns substrates.
const KEEPER_LOG_MAX_BYTES = 64 * 1024 * 1024;

/**
 * The service's command, run by `setpriv` as its own user and group with that user's
 * supplementary groups from the group database (as systemd's User= sets them: a worker host adds
 * `hastack-worker` to `hastack-app`, which owns the shipped app.dir, src/deploy/app-dir.ts), no way to gain privileges again (no_new_privs: setuid binaries and file capabilities do
 * nothing) and an empty capability bounding set but for what the unit keeps (CAP_NET_BIND_SERVICE
 * for a port below 1024, passed as an ambient capability): what systemd's User=, Group=,
 * NoNewPrivileges= and CapabilityBoundingSet= do. Node's own `uid`/`gid` spawn options do the
 * setuid/setgid but can set neither no_new_privs nor the capability sets, hence setpriv
 * (util-linux, on every Debian). The keeper stays root: it runs `pre` as root before each start.
 */
export function dropPrivileges(user: string, capabilities: readonly string[], argv: readonly string[]): string[] {
  const caps = capabilities.map((c) => `+${c.toLowerCase().replace(/^cap_/, '')}`);
  const set = ['-all', ...caps].join(',');
  return [
    'setpriv',
    `--reuid=${user}`,
    `--regid=${user}`,
    '--init-groups',
    '--no-new-privs',
    `--bounding-set=${set}`,
    ...(caps.length > 0 ? [`--inh-caps=${set}`, `--ambient-caps=${set}`] : []),
    '--',
    ...argv,
  ];
}

/** A service that stayed up this long is stable: its backoff starts over (as the supervisor's). */
const STABLE_MS = 30_000;

/** `_keep --unit FILE`: the keeper process itself. Runs until SIGTERM. */
export async function runKeeper(unitFile: string): Promise<void> {
  const spec = readSpec(unitFile);
  const stateFile = stateFileOf(unitFile);
  const keeperStartMs = processStartTime(process.pid) ?? Date.now();
  let state: KeeperState = { keeperPid: process.pid, keeperStartMs, phase: 'pre', restarts: 0 };
  // A full disk must not kill the keeper (its service would run unsupervised): the state file
  // keeps its last whole version (atomic write) and is written again at the next change.
  const save = (patch: Partial<KeeperState>): void => {
    state = { ...state, ...patch };
    try {
      writeJsonAtomic(stateFile, state);
    } catch {
      // see above
    }
  };
  // Our stdout is the service's log file: a failed write (ENOSPC) is an 'error' event, which
  // unhandled would end the process.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const log = (msg: string): void => {
    process.stdout.write(`${new Date().toISOString()} hastack keeper ${spec.name}: ${msg}\n`);
  };
  // The service's log, written through the descriptor we hand it: bounded in place (see KEEPER_LOG_MAX_BYTES).
  setInterval(() => truncateIfOver(spec.logFile, KEEPER_LOG_MAX_BYTES), 30_000).unref();
  let stopping = false;
  let current: ChildProcess | undefined;
  let wake: (() => void) | undefined;
  const onStop = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    wake?.();
    const pid = current?.pid;
    if (pid !== undefined && current?.exitCode === null) {
      // killMode mixed (a command app drains first): the main process only; SIGKILL below takes the group.
      if (spec.killMode === 'mixed') {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      } else signalGroup(pid, 'SIGTERM');
      setTimeout(() => {
        log(`still running after ${spec.stopTimeoutMs} ms: SIGKILL`);
        signalGroup(pid, 'SIGKILL');
      }, spec.stopTimeoutMs).unref();
    }
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  save({});

  const run = (argv: readonly string[], phase: 'pre' | 'exec'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    const fd = fs.openSync(spec.logFile, 'a');
    try {
      // `pre` is root's (like systemd's `ExecStartPre=+`); the service itself drops to its user.
      const dropped = phase === 'exec' && spec.user !== undefined;
      const [cmd, ...args] = dropped ? dropPrivileges(spec.user ?? '', spec.capabilities ?? [], argv) : argv;
      // The child inherits the umask at fork: files a dropped service makes (Redis's CONFIG
      // REWRITE of a redis.conf holding passwords) are its alone, as systemd's UMask=0077.
      const umask = dropped ? process.umask(0o077) : undefined;
      let child: ChildProcess;
      try {
        child = spawn(cmd ?? '', args, {
          cwd: spec.cwd,
          env: { ...process.env, ...spec.env },
          // Its own process group, so a stop or a node-down reaches everything it forks.
          detached: true,
          stdio: ['ignore', fd, fd],
        });
      } finally {
        if (umask !== undefined) process.umask(umask);
      }
      current = child;
      const pid = child.pid;
      if (pid !== undefined) save({ phase, childPid: pid, childStartMs: processStartTime(pid) ?? Date.now(), ...(phase === 'exec' ? { since: new Date().toISOString() } : {}) });
      return new Promise((resolve) => {
        child.once('error', (e) => {
          log(`cannot run ${cmd}: ${e.message}`);
          resolve({ code: 127, signal: null });
        });
        child.once('exit', (code, signal) => resolve({ code, signal }));
      });
    } finally {
      fs.closeSync(fd);
    }
  };

  fs.mkdirSync(spec.cwd, { recursive: true });
  if (spec.timer !== undefined) {
    await runTimer(spec, { run, log, save, isStopping: () => stopping, setWake: (w) => (wake = w), kill: () => current?.pid });
    save({ phase: 'stopped' });
    log('stopped');
    process.exit(0);
  }
  let attempt = 0;
  while (!stopping) {
    const startedAt = Date.now();
    let failed = false;
    if (spec.pre.length > 0) {
      const timer = setTimeout(() => {
        log(`prepare did not finish within ${spec.startTimeoutMs} ms: SIGKILL`);
        if (current?.pid !== undefined) signalGroup(current.pid, 'SIGKILL');
      }, spec.startTimeoutMs);
      const r = await run(spec.pre, 'pre');
      clearTimeout(timer);
      if (r.code !== 0) {
        failed = true;
        if (!stopping) log(`prepare exited with ${r.signal ?? `code ${r.code}`}`);
      }
    }
    if (!failed && !stopping) {
      const r = await run(spec.exec, 'exec');
      if (!stopping) log(`${spec.exec[0]} exited with ${r.signal ?? `code ${r.code}`}`);
    }
    current = undefined;
    if (stopping) break;
    if (Date.now() - startedAt > STABLE_MS) attempt = 0;
    const delay = backoffMs(attempt, spec.restartSec * 1000, spec.restartMaxSec * 1000);
    attempt += 1;
    log(`restarting in ${delay} ms`);
    save({ phase: 'backoff', restarts: state.restarts + 1 });
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, delay);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    wake = undefined;
  }
  save({ phase: 'stopped' });
  log('stopped');
  process.exit(0);
}

/** The longest single wait: setTimeout's limit is ~24.8 days, and a shorter one re-checks the clock. */
const TIMER_MAX_WAIT_MS = 3_600_000;

/**
 * A scheduled unit (the backup) under the keeper: what systemd's .timer does. Waits for the next
 * fire (keeper-timer.ts), runs `exec` once to its end (bounded by the unit's start timeout, as
 * systemd bounds a oneshot), and waits again; a failed run is logged and waits for the next fire
 * (no restart loop, like a timer). SIGTERM ends the wait or the run.
 */
async function runTimer(
  spec: UnitSpec,
  k: {
    run: (argv: readonly string[], phase: 'exec') => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    log: (m: string) => void;
    save: (p: Partial<KeeperState>) => void;
    isStopping: () => boolean;
    setWake: (w: (() => void) | undefined) => void;
    kill: () => number | undefined;
  },
): Promise<void> {
  const timer = spec.timer;
  if (timer === undefined) return;
  const keeperStartedAt = Date.now();
  let lastRunAt: number | undefined;
  while (!k.isStopping()) {
    const at = nextTimerFire(timer, { keeperStartedAt, lastRunAt, now: Date.now() });
    if (at === undefined) {
      k.log('the schedule never fires; waiting for a stop');
    }
    k.save({ phase: 'timer' });
    while (!k.isStopping() && (at === undefined || Date.now() < at)) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, at === undefined ? TIMER_MAX_WAIT_MS : Math.min(TIMER_MAX_WAIT_MS, Math.max(0, at - Date.now())));
        k.setWake(() => {
          clearTimeout(t);
          resolve();
        });
      });
      k.setWake(undefined);
    }
    if (k.isStopping()) break;
    lastRunAt = Date.now();
    k.log(`timer: running ${spec.exec.join(' ')}`);
    const bound = setTimeout(() => {
      const pid = k.kill();
      k.log(`the run did not finish within ${spec.startTimeoutMs} ms: SIGKILL`);
      if (pid !== undefined) signalGroup(pid, 'SIGKILL');
    }, spec.startTimeoutMs);
    const r = await k.run(spec.exec, 'exec');
    clearTimeout(bound);
    k.log(`timer: ${spec.exec[0]} exited with ${r.signal ?? `code ${r.code}`}`);
  }
}
