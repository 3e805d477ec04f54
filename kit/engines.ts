/**
 * The one engine start/stop harness for tests and benches that play the supervisor themselves
 * (no `hastack up`): a service through its real engine driver (prepare, spawn detached with its
 * output appended to service.log, poll the probe, afterHealthy), or a plain process with its own
 * arguments. Every process is started in its own process group and stopped by it: SIGTERM, then
 * SIGKILL after a grace; a process `exit` hook SIGKILLs whatever is left if the test is cut short.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findService, loadOrCreateSecrets, parseConfig, resolveTopology, type ConfigInput, type Secrets, type ServiceInstance, type Topology } from '../src/config/index.js';
import mysql from 'mysql2/promise';
import { DB_USERS, engineDrivers } from '../src/engines/index.js';
import type { EngineKind, ServiceContext } from '../src/registry/index.js';
import { portOpen } from '../src/shared/net.js';
import { waitFor } from '../src/shared/retry.js';
import type { TestId } from './addresses.js';
import { onRange } from './configs.js';

export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves once the process exited (whatever the cause). */
  readonly exited: Promise<void>;
  /** undefined while it runs; its exit code (null after a signal) once it exited. */
  readonly exitCode: number | null | undefined;
}

export interface StartOptions {
  /** Run the driver's afterHealthy (wiring replicas, ...); default true. */
  readonly afterHealthy?: boolean;
  /** Bound on becoming healthy; default 30 s (engines are healthy in 0.1-3 s here: the bound turns a hang into an error). */
  readonly healthyTimeoutMs?: number;
}

/** SIGTERM grace before SIGKILL: a clean InnoDB shutdown of a test-sized datadir takes about a second. */
const STOP_GRACE_MS = 10_000;

export class EngineHarness {
  readonly #running = new Map<string, Started & { exitCode: number | null | undefined }>();
  readonly #onExit = (): void => this.killAllNow();

  constructor() {
    // Last resort if the process ends before stopAll(): leave no engine behind.
    process.on('exit', this.#onExit);
  }

  /** A plain process, detached in its own group, stdout and stderr appended to `logFile`. */
  spawn(name: string, command: string, args: readonly string[], opts: { logFile: string; cwd?: string; env?: Readonly<Record<string, string>> }): Started {
    if (this.#running.has(name)) throw new Error(`${name} is already running in this harness`);
    fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
    const fd = fs.openSync(opts.logFile, 'a');
    const child = spawn(command, [...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, detached: true, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    if (child.pid === undefined) throw new Error(`${name}: ${command} did not start`);
    const entry = {
      name,
      child,
      pid: child.pid,
      logFile: opts.logFile,
      exitCode: undefined as number | null | undefined,
      exited: new Promise<void>((resolve) => {
        child.once('exit', (code) => {
          entry.exitCode = code;
          resolve();
        });
      }),
    };
    this.#running.set(name, entry);
    return entry;
  }

  /** What the supervisor does for one service: prepare, spawn, wait healthy, afterHealthy. Named by the service id. */
  async start(ctx: ServiceContext, opts: StartOptions = {}): Promise<Started> {
    const driver = engineDrivers[ctx.svc.kind as EngineKind];
    await driver.prepare(ctx);
    const spec = driver.command(ctx);
    const started = this.spawn(ctx.svc.id, spec.command, spec.args, { logFile: path.join(ctx.svc.dir, 'service.log'), cwd: spec.cwd, env: spec.env });
    const healthy = await waitFor(
      async () => {
        if (started.exitCode !== undefined) return 'exited';
        return (await driver.probe(ctx, 1000)).healthy ? 'healthy' : undefined;
      },
      { timeoutMs: opts.healthyTimeoutMs ?? 30_000, intervalMs: 100 },
    );
    if (healthy !== 'healthy') {
      const tail = fs.readFileSync(started.logFile, 'utf8').split('\n').slice(-20).join('\n');
      throw new Error(`${ctx.svc.id} did not become healthy (${healthy === 'exited' ? `exit code ${String(started.exitCode)}` : 'timed out'}); ${started.logFile}:\n${tail}`);
    }
    if (opts.afterHealthy !== false) await driver.afterHealthy?.(ctx);
    return started;
  }

  get(name: string): Started | undefined {
    return this.#running.get(name);
  }

  names(): string[] {
    return [...this.#running.keys()];
  }

  /** A signal to the process itself (SIGSTOP/SIGCONT for a pause); nothing when it is gone. */
  signal(name: string, sig: NodeJS.Signals): void {
    const r = this.#running.get(name);
    if (r === undefined || r.exitCode !== undefined) return;
    try {
      process.kill(r.pid, sig);
    } catch {
      // already gone
    }
  }

  /** `signal` to the process group (default SIGTERM), SIGKILL after the grace; resolves once it exited. */
  async stop(name: string, signal: NodeJS.Signals = 'SIGTERM', graceMs = STOP_GRACE_MS): Promise<void> {
    const r = this.#running.get(name);
    if (r === undefined) return;
    this.#running.delete(name);
    if (r.exitCode !== undefined) return;
    killGroup(r.pid, signal);
    const t = setTimeout(() => killGroup(r.pid, 'SIGKILL'), graceMs);
    await r.exited;
    clearTimeout(t);
  }

  /** SIGKILL of the process group; resolves once it exited. */
  kill(name: string): Promise<void> {
    return this.stop(name, 'SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.names().map((n) => this.stop(n)));
    process.off('exit', this.#onExit);
  }

  /** Synchronous SIGKILL of everything (an exit hook cannot wait). */
  killAllNow(): void {
    for (const r of this.#running.values()) if (r.exitCode === undefined) killGroup(r.pid, 'SIGKILL');
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Throws when anything listens on one of these addresses: a leftover would be probed instead of ours. */
export async function assertFree(endpoints: Iterable<{ readonly address: string; readonly port: number }>): Promise<void> {
  for (const e of endpoints) {
    if (await portOpen(e.address, e.port)) throw new Error(`${e.address}:${e.port} is already in use; a leftover process from an earlier run? (ss -ltnp)`);
  }
}

/** Waits until something listens (20 s bound: engines listen within a second or two here). */
export async function waitListening(address: string, port: number, timeoutMs = 20_000): Promise<boolean> {
  return (await waitFor(async () => ((await portOpen(address, port)) ? true : undefined), { timeoutMs, intervalMs: 50 })) === true;
}

/**
 * The end of a test that played the supervisor: every engine stopped, the state root removed
 * (kept with HASTACK_KEEP_TEST_STATE=1 for a post-mortem), the timings it noted printed.
 */
export async function finishEngineTest(engines: EngineHarness, stateRoot: string, timings: readonly string[]): Promise<void> {
  await engines.stopAll();
  if (process.env.HASTACK_KEEP_TEST_STATE === '1') console.log(`# state kept in ${stateRoot}`);
  else fs.rmSync(stateRoot, { recursive: true, force: true });
  for (const t of timings) console.log(`# timing ${t}`);
}

/** The topology of a test that plays the supervisor, in a fresh temp state root, with its secrets. */
export interface EngineBed {
  readonly stateRoot: string;
  readonly topo: Topology;
  readonly secrets: Secrets;
  readonly asRoot: boolean;
  /** The service context of `node`'s `kind`; throws when the topology has none. */
  ctxOf(node: string, kind: EngineKind): ServiceContext;
  /** A connection as the app's database user to one MariaDB node, over TCP (the caller ends it). */
  appConnection(svc: ServiceInstance): Promise<mysql.Connection>;
}

/** `config` placed on the test's row of the address table (`onRange`), resolved under a new temp dir. */
export function engineBed(id: TestId, config: ConfigInput): EngineBed {
  const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), `hx-${id}-`));
  const topo = resolveTopology(parseConfig(onRange(id, config)), { stateRoot, configDir: stateRoot });
  const secrets = loadOrCreateSecrets(topo.stateDir);
  const asRoot = process.getuid?.() === 0;
  return {
    stateRoot,
    topo,
    secrets,
    asRoot,
    ctxOf(node, kind) {
      const svc = findService(topo, node, kind);
      if (svc === undefined) throw new Error(`${node}/${kind} is not in the topology`);
      return { topo, secrets, svc, asRoot };
    },
    appConnection: (svc) =>
      mysql.createConnection({ host: svc.address, port: svc.port, user: DB_USERS.app, password: secrets.dbAppPassword, database: topo.config.database.name, connectTimeout: 5000 }),
  };
}
