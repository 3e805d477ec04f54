import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { readSecrets, refreshSecretsInPlace, secretsFile, stopsMainFirst, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { firstDatabaseNode, waitSentinelsReady } from '../engines/index.js';
import { descriptorOf, startPlan, stopGraceMs, stopPlan, type ProbeResult, type ServiceContext, type ServiceDriver } from '../registry/index.js';
import { EngineStartError, ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent, type ClusterEvent } from '../shared/events.js';
import { tailFile } from '../shared/files.js';
import { truncateIfOver } from '../shared/logfile.js';
import { backoffMs, sleep } from '../shared/retry.js';
import { HOST, mergeLinks, type Link, type RunningProcess, type Substrate, writeRunState, SECRETS_RELOADED, type RunState } from '../substrate/index.js';
import { CLI_MAIN, driverFor } from '../drivers/index.js';

interface Managed {
  readonly svc: ServiceInstance;
  readonly driver: ServiceDriver;
  readonly ctx: ServiceContext;
  proc?: RunningProcess;
  startedAt: number;
  restarts: number;
  /** Restart attempts since the service last stayed up for STABLE_MS; drives the backoff. */
  attempt: number;
  /** `starting`: an exit fails `up`; `running`: an exit is restarted; `stopped`: left alone. */
  phase: 'starting' | 'running' | 'stopped';
  restartTimer?: NodeJS.Timeout;
  /** Liveness: failed periodic probes in a row, and whether this process was healthy once. */
  livenessMisses: number;
  livenessArmed: boolean;
}

export interface SupervisorOptions {
  readonly topo: Topology;
  readonly secrets: Secrets;
  readonly substrate: Substrate;
  /** Called for every event as it is appended to the event log (progress display). */
  readonly onEvent?: (e: ClusterEvent) => void;
}

/** A service that stayed up this long is considered stable: its backoff starts over. */
const STABLE_MS = 30_000;
/** Health probe timeout: loopback answers in microseconds; a second means the process is stuck. */
const PROBE_TIMEOUT_MS = 1_000;
const PROBE_INTERVAL_MS = 150;
/** Migrations of a fresh ERP take well under a second; 2 minutes bounds a big user migration. */
const MIGRATE_TIMEOUT_MS = 120_000;
const LOG_TAIL_LINES = 15;
/** Lines of the migrations' output kept in their event: enough for a migration tool's summary. */
const MIGRATE_EVENT_LINES = 40;
/**
 * Liveness probes of services whose driver opts in (`livenessFailures`): every 2 s, so a stuck
 * worker is restarted within seconds of its own bound, at the cost of one HTTP GET per 2 s each.
 */
const LIVENESS_INTERVAL_MS = 2_000;
// 64 MiB per service log (plus a 16 MiB tail in `<log>.1`): days of a chatty engine's output,
// and a node with a dozen services stays under a GiB however long it runs.
const SERVICE_LOG_MAX_BYTES = 64 * 1024 * 1024;
/**
 * How often secrets.json is looked at (one stat): `secrets rotate` saves new passwords there and
 * the services, probes, admin API and failover controller of this process must use them within
 * about a second, before the rotation restarts the clients.
 */
const SECRETS_CHECK_MS = 1_000;
/** The event the supervisor logs once it uses the passwords in secrets.json (`secrets rotate` waits for it). */

/** The last `lines` lines written to `file` past `offset` (at most its last 64 KiB). */
function outputSince(file: string, offset: number, lines: number): string {
  try {
    const size = fs.statSync(file).size;
    const from = Math.max(offset, size - 64 * 1024);
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(Math.max(0, size - from));
      fs.readSync(fd, buf, 0, buf.length, from);
      return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

export function logFileOf(svc: ServiceInstance): string {
  return path.join(svc.dir, 'service.log');
}

/**
 * Owns the cluster's processes: starts them in dependency order, waits (bounded) for each to be
 * healthy, restarts a crashed one with capped backoff, and stops them in reverse order.
 * Drivers know the engines; the supervisor knows only processes, health and order.
 */
export class Supervisor {
  private readonly managed = new Map<string, Managed>();
  private readonly startedAt = new Date().toISOString();
  private state: RunState['state'] = 'starting';
  /** Nodes a fault took down: their services stay down (no restart) until healed. */
  private readonly downNodes = new Set<string>();
  private stopping: Promise<void> | undefined;
  /** Nodes a fault froze (SIGSTOP): their failing probes are the fault, not a reason to restart. */
  private readonly pausedNodes = new Set<string>();
  private livenessTimer: NodeJS.Timeout | undefined;
  /** Network links a partition fault cut (netns only), until `healPartition`. */
  private cut: Link[] = [];
  private secretsTimer: NodeJS.Timeout | undefined;
  private secretsMtimeMs = 0;

  constructor(private readonly opts: SupervisorOptions) {
    const asRoot = os.userInfo().uid === 0;
    for (const svc of opts.topo.services) {
      this.managed.set(svc.id, {
        svc,
        driver: driverFor(svc.kind),
        ctx: { topo: opts.topo, secrets: opts.secrets, svc, asRoot },
        startedAt: 0,
        restarts: 0,
        attempt: 0,
        phase: 'stopped',
        livenessMisses: 0,
        livenessArmed: false,
      });
    }
    this.secretsMtimeMs = this.secretsMtime();
    this.secretsTimer = setInterval(() => this.refreshSecrets(), SECRETS_CHECK_MS);
    this.secretsTimer.unref();
  }

  private secretsMtime(): number {
    try {
      return fs.statSync(secretsFile(this.opts.topo.stateDir)).mtimeMs;
    } catch {
      return 0;
    }
  }

  /**
   * Picks up passwords `secrets rotate` saved: the one Secrets object every service context, the
   * admin API and the failover controller share is updated in place. A file that cannot be read
   * leaves the passwords in use as they are.
   */
  private refreshSecrets(): void {
    const mtime = this.secretsMtime();
    if (mtime === this.secretsMtimeMs) return;
    try {
      refreshSecretsInPlace(this.opts.secrets, readSecrets(this.opts.topo.stateDir));
      this.secretsMtimeMs = mtime;
      this.event({ type: 'step', message: SECRETS_RELOADED });
    } catch (e) {
      this.event({ type: 'step', message: `secrets.json changed but cannot be read (${describeError(e)}); keeping the passwords in use` });
    }
  }

  private event(e: Omit<ClusterEvent, 'ts'>): void {
    const full = appendEvent(this.opts.topo.stateDir, e);
    this.opts.onEvent?.(full);
  }

  /**
   * run.json is rewritten on every change of a process; on a full disk the write fails (the old
   * file stays whole: atomic write). That must not stop the supervisor: the next change, or the
   * next liveness round, writes it again.
   */
  private runStateStale = false;

  private saveRunState(): void {
    try {
      this.writeRunStateNow();
      this.runStateStale = false;
    } catch {
      this.runStateStale = true;
    }
  }

  /**
   * Every log a service writes through the descriptor the supervisor gave it (service.log) or
   * opens itself in append mode (mariadb.err, ...): bounded to SERVICE_LOG_MAX_BYTES in place.
   */
  private boundLogs(): void {
    for (const m of this.managed.values()) {
      for (const f of [logFileOf(m.svc), ...(m.driver.logFiles?.(m.ctx) ?? [])]) truncateIfOver(f, SERVICE_LOG_MAX_BYTES);
    }
    truncateIfOver(path.join(this.opts.topo.stateDir, 'supervisor.log'), SERVICE_LOG_MAX_BYTES);
    if (this.runStateStale) this.saveRunState();
  }

  private writeRunStateNow(): void {
    const services: Record<string, RunState['services'][string]> = {};
    for (const [id, m] of this.managed) {
      if (m.proc && m.phase !== 'stopped') {
        services[id] = { pid: m.proc.pid, startedAt: new Date(m.startedAt).toISOString(), restarts: m.restarts };
      }
    }
    writeRunState(this.opts.topo.stateDir, {
      supervisorPid: process.pid,
      state: this.state,
      startedAt: this.startedAt,
      services,
    });
  }

  /** Brings the whole cluster up; throws (leaving what started running) if a step fails. */
  async start(): Promise<void> {
    const topo = this.opts.topo;
    this.event({ type: 'cluster.starting', message: `starting cluster ${topo.cluster} (${topo.services.length} services)` });
    this.saveRunState();
    try {
      const asRoot = os.userInfo().uid === 0;
      const firstDb = await firstDatabaseNode(topo, this.opts.secrets, asRoot, (message, data) => this.event({ type: 'step', message, ...(data ? { data } : {}) }));
      // The Sentinels' discovery of each other takes a hello round (every 2 s, Sentinel's own
      // period): memcached and the migrations, which never ask a Sentinel, start meanwhile; the
      // first group whose clients do (descriptor secrets hold sentinelPassword) waits for it.
      let sentinels: Promise<unknown> | undefined;
      for (const step of startPlan(topo, firstDb)) {
        if (this.stopping) throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, 'start interrupted by a stop request');
        if (step.type === 'start') {
          if (sentinels !== undefined && step.services.some((svc) => descriptorOf(svc.kind).secrets.includes('sentinelPassword'))) {
            await sentinels;
            sentinels = undefined;
          }
          await Promise.all(step.services.map((svc) => this.startOne(this.get(svc.id))));
        } else if (step.type === 'sentinels-ready') {
          this.event({ type: 'step', message: 'waiting for the sentinels to discover the replica and each other' });
          sentinels = waitSentinelsReady(topo, this.opts.secrets, 30_000);
          // Awaited below; a failure meanwhile must not count as unhandled.
          sentinels.catch(() => undefined);
        } else {
          await this.migrate();
        }
      }
      if (sentinels !== undefined) await sentinels;
    } catch (e) {
      this.state = 'failed';
      this.saveRunState();
      this.event({ type: 'cluster.failed', message: describeError(e) });
      throw e;
    }
    this.state = 'ready';
    this.saveRunState();
    this.event({ type: 'cluster.ready', message: `cluster ${topo.cluster} is healthy` });
    this.scheduleLiveness();
  }

  private scheduleLiveness(): void {
    if (this.stopping) return;
    this.livenessTimer = setTimeout(() => {
      this.boundLogs();
      void this.livenessRound().finally(() => this.scheduleLiveness());
    }, LIVENESS_INTERVAL_MS);
    this.livenessTimer.unref();
  }

  /**
   * One liveness round: probe each running service whose driver opts in; after its
   * `livenessFailures` consecutive failures, SIGKILL it (onExit then restarts it as after any
   * crash). A process is judged only once it was healthy, or had its whole start budget: a
   * restarted worker waiting for migrations is starting, not stuck.
   */
  private async livenessRound(): Promise<void> {
    const budget = this.opts.topo.config.supervisor.healthTimeoutMs;
    const due = [...this.managed.values()].filter(
      (m) =>
        m.driver.livenessFailures !== undefined && m.phase === 'running' && !this.downNodes.has(m.svc.node) && !this.pausedNodes.has(m.svc.node) && !this.cutFromHost(m.svc.node),
    );
    await Promise.all(
      due.map(async (m) => {
        const pid = this.livePid(m);
        if (pid === undefined || m.restartTimer) return;
        const r = await m.driver.probe(m.ctx, PROBE_TIMEOUT_MS);
        if (this.stopping || m.proc?.pid !== pid || this.pausedNodes.has(m.svc.node)) return;
        if (r.healthy) {
          m.livenessArmed = true;
          m.livenessMisses = 0;
          return;
        }
        if (!m.livenessArmed && Date.now() - m.startedAt < budget) return;
        m.livenessMisses += 1;
        const limit = m.driver.livenessFailures ?? Number.POSITIVE_INFINITY;
        if (m.livenessMisses < limit) return;
        m.livenessMisses = 0;
        this.event({
          type: 'service.exited',
          message: `${m.svc.id} (pid ${pid}) failed ${limit} liveness probes in a row (${r.detail ?? 'no detail'}); killing it so it restarts`,
          node: m.svc.node,
          service: m.svc.kind,
          data: { pid, liveness: true, detail: r.detail },
        });
        this.opts.substrate.signal(pid, 'SIGKILL');
      }),
    );
  }

  private get(id: string): Managed {
    const m = this.managed.get(id);
    if (!m) throw new HastackError(ErrorCode.INTERNAL, `unknown service ${id}`);
    return m;
  }

  private spawn(m: Managed): RunningProcess {
    const proc = this.opts.substrate.spawn(m.svc, m.driver.command(m.ctx), logFileOf(m.svc));
    m.proc = proc;
    m.startedAt = Date.now();
    m.livenessArmed = false;
    m.livenessMisses = 0;
    this.saveRunState();
    void proc.exited.then((info) => this.onExit(m, proc, info.code, info.signal));
    return proc;
  }

  private logTail(m: Managed): string {
    const files = [logFileOf(m.svc), ...(m.driver.logFiles?.(m.ctx) ?? [])];
    return files
      .map((f) => [f, tailFile(f, LOG_TAIL_LINES)] as const)
      .filter(([, t]) => t !== '')
      .map(([f, t]) => `--- ${f}\n${t}`)
      .join('\n');
  }

  private async startOne(m: Managed): Promise<void> {
    const { svc } = m;
    m.phase = 'starting';
    this.event({ type: 'service.starting', message: `starting ${svc.id} on ${svc.address}:${svc.port}`, node: svc.node, service: svc.kind });
    try {
      await m.driver.prepare(m.ctx);
    } catch (e) {
      throw new EngineStartError(svc.id, `preparing it failed: ${describeError(e)}`, this.logTail(m), logFileOf(svc));
    }
    const proc = this.spawn(m);
    let exited: string | undefined;
    void proc.exited.then((info) => (exited = info.signal ? `signal ${info.signal}` : `exit status ${info.code}`));
    const deadline = Date.now() + this.opts.topo.config.supervisor.healthTimeoutMs;
    let last: ProbeResult | undefined;
    for (;;) {
      if (exited !== undefined) throw new EngineStartError(svc.id, `the process exited during start (${exited})`, this.logTail(m), logFileOf(svc));
      last = await m.driver.probe(m.ctx, PROBE_TIMEOUT_MS);
      if (last.healthy) break;
      if (Date.now() > deadline) {
        throw new EngineStartError(
          svc.id,
          `not healthy after ${this.opts.topo.config.supervisor.healthTimeoutMs} ms (${last.detail ?? 'no detail'})`,
          this.logTail(m),
          logFileOf(svc),
        );
      }
      await sleep(PROBE_INTERVAL_MS);
    }
    if (m.driver.afterHealthy) {
      try {
        await m.driver.afterHealthy(m.ctx);
      } catch (e) {
        throw new EngineStartError(svc.id, `wiring it into the cluster failed: ${describeError(e)}`, this.logTail(m), logFileOf(svc));
      }
    }
    m.phase = 'running';
    this.event({
      type: 'service.healthy',
      message: `${svc.id} healthy (${last.role}${last.detail ? `, ${last.detail}` : ''})`,
      node: svc.node,
      service: svc.kind,
      data: { pid: proc.pid, role: last.role },
    });
  }

  private onExit(m: Managed, proc: RunningProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (m.proc !== proc || m.phase !== 'running' || this.stopping) return;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (this.downNodes.has(m.svc.node)) {
      this.saveRunState();
      this.event({
        type: 'service.exited',
        message: `${m.svc.id} (pid ${proc.pid}) exited with ${how}; node ${m.svc.node} is down, not restarting`,
        node: m.svc.node,
        service: m.svc.kind,
      });
      return;
    }
    if (Date.now() - m.startedAt > STABLE_MS) m.attempt = 0;
    const cfg = this.opts.topo.config.supervisor;
    const delay = backoffMs(m.attempt, cfg.restartBackoffMinMs, cfg.restartBackoffMaxMs);
    m.attempt += 1;
    this.event({
      type: 'service.exited',
      message: `${m.svc.id} (pid ${proc.pid}) exited with ${how}; restarting in ${delay} ms`,
      node: m.svc.node,
      service: m.svc.kind,
      data: { pid: proc.pid, code, signal, delayMs: delay },
    });
    m.restartTimer = setTimeout(() => void this.restart(m), delay);
  }

  private async restart(m: Managed): Promise<void> {
    m.restartTimer = undefined;
    if (this.stopping || m.phase !== 'running' || this.downNodes.has(m.svc.node)) return;
    m.restarts += 1;
    this.refreshSecrets();
    try {
      await m.driver.prepare(m.ctx);
      // prepare can take seconds (galera runs --wsrep-recover): a fault or stop may have come meanwhile.
      if (this.stopping || m.phase !== 'running' || this.downNodes.has(m.svc.node)) return;
      const proc = this.spawn(m);
      this.event({ type: 'service.restarting', message: `restarted ${m.svc.id} as pid ${proc.pid}`, node: m.svc.node, service: m.svc.kind, data: { pid: proc.pid } });
    } catch (e) {
      // Preparing failed (disk full, say): try again later rather than give up on the service.
      this.event({ type: 'service.exited', message: `restarting ${m.svc.id} failed: ${describeError(e)}`, node: m.svc.node, service: m.svc.kind });
      const cfg = this.opts.topo.config.supervisor;
      m.restartTimer = setTimeout(() => void this.restart(m), backoffMs(m.attempt++, cfg.restartBackoffMinMs, cfg.restartBackoffMaxMs));
    }
  }

  private servicesOn(node: string): Managed[] {
    const list = [...this.managed.values()].filter((m) => m.svc.node === node);
    if (list.length === 0) throw new HastackError(ErrorCode.NOT_FOUND, `no node "${node}" in cluster ${this.opts.topo.cluster}`);
    return list;
  }

  private livePid(m: Managed): number | undefined {
    const pid = m.proc?.pid;
    return pid !== undefined && this.opts.substrate.isAlive(pid) ? pid : undefined;
  }

  /**
   * Fault: SIGKILL every process of a node, as if the machine lost power. The node stays down
   * (the supervisor does not restart its services) until `healNode`.
   */
  killNode(node: string): number[] {
    const list = this.servicesOn(node);
    this.downNodes.add(node);
    const pids: number[] = [];
    for (const m of list) {
      if (m.restartTimer) clearTimeout(m.restartTimer);
      const pid = this.livePid(m);
      if (pid !== undefined) {
        this.opts.substrate.signal(pid, 'SIGKILL');
        pids.push(pid);
      }
    }
    this.event({ type: 'fault.injected', message: `node ${node} killed (SIGKILL to ${pids.length} process(es)); it stays down until healed`, node, data: { pids } });
    return pids;
  }

  /** Fault: SIGKILL one service; the supervisor restarts it as it would after any crash. */
  killService(node: string, kind: string): number | undefined {
    const m = this.servicesOn(node).find((x) => x.svc.kind === kind);
    if (!m) throw new HastackError(ErrorCode.NOT_FOUND, `node ${node} has no ${kind} service`);
    const pid = this.livePid(m);
    if (pid !== undefined) this.opts.substrate.signal(pid, 'SIGKILL');
    this.event({ type: 'fault.injected', message: `${m.svc.id} killed (pid ${pid ?? '-'})`, node, service: kind, data: { pid } });
    return pid;
  }

  /** Fault: freeze every process of a node (SIGSTOP), a gray failure; `resumeNode` thaws it. */
  pauseNode(node: string): number[] {
    const pids = this.servicesOn(node).flatMap((m) => this.livePid(m) ?? []);
    this.pausedNodes.add(node);
    for (const pid of pids) this.opts.substrate.signal(pid, 'SIGSTOP');
    this.event({ type: 'fault.injected', message: `node ${node} paused (SIGSTOP to ${pids.length} process(es))`, node, data: { pids } });
    return pids;
  }

  resumeNode(node: string): number[] {
    const pids = this.servicesOn(node).flatMap((m) => this.livePid(m) ?? []);
    this.pausedNodes.delete(node);
    for (const pid of pids) this.opts.substrate.signal(pid, 'SIGCONT');
    this.event({ type: 'fault.healed', message: `node ${node} resumed (SIGCONT to ${pids.length} process(es))`, node, data: { pids } });
    return pids;
  }

  /** Brings a killed node back: restarts each of its services that is not running. */
  async healNode(node: string): Promise<void> {
    const list = this.servicesOn(node);
    this.downNodes.delete(node);
    for (const m of list) {
      if (this.livePid(m) === undefined && m.phase === 'running') {
        m.attempt = 0;
        await this.restart(m);
      }
    }
    this.event({ type: 'fault.healed', message: `node ${node} healed: its services are starting again`, node });
  }

  /** A node the supervisor cannot reach because of a fault: its failing probes are the fault. */
  private cutFromHost(node: string): boolean {
    return this.cut.some((l) => l.from === HOST && l.to === node);
  }

  /**
   * Fault: cut network links between nodes (and the host, `HOST`), dropping their packets.
   * Cuts accumulate until `healPartition`; processes are untouched (alive, maybe still serving
   * whoever they can reach). Needs a substrate with network faults (netns).
   */
  async cutNetwork(links: readonly Link[], what: string): Promise<Link[]> {
    const network = this.opts.substrate.network;
    if (!network) {
      throw new HastackError(
        ErrorCode.BAD_REQUEST,
        `partition faults need nodes in network namespaces: bring the cluster up with "hastack up --substrate netns" (it runs on ${this.opts.topo.config.substrate})`,
      );
    }
    for (const l of links) for (const p of [l.from, l.to]) if (p !== HOST) this.servicesOn(p);
    const next = mergeLinks(this.cut, links);
    await network.setCutLinks(next);
    this.cut = next;
    this.event({ type: 'fault.injected', message: `network: ${what} (${links.length} one-way link(s) dropped, ${next.length} in all)`, data: { links } });
    return next;
  }

  /** Heals every network cut. Safe to call with none in place. */
  async healPartition(): Promise<number> {
    const n = this.cut.length;
    await this.opts.substrate.network?.setCutLinks([]);
    this.cut = [];
    this.event({ type: 'fault.healed', message: `network healed (${n} one-way link(s) restored)`, data: { links: n } });
    return n;
  }

  private async migrate(): Promise<void> {
    const topo = this.opts.topo;
    this.event({ type: 'step', message: "running the app's migrations" });
    const logFile = path.join(topo.stateDir, 'migrate.log');
    const fake: ServiceInstance = { node: '-', kind: 'app', address: '127.0.0.1', port: 0, dir: topo.stateDir, id: 'migrate' };
    // migrate.log keeps every run; the event gets this run's output only (from this offset).
    const offset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const proc = this.opts.substrate.spawn(fake, { command: process.execPath, args: [CLI_MAIN, '_migrate', '--state', topo.stateDir] }, logFile);
    const timer = setTimeout(() => this.opts.substrate.signal(proc.pid, 'SIGKILL'), MIGRATE_TIMEOUT_MS);
    const info = await proc.exited.finally(() => clearTimeout(timer));
    // The output goes to the event log too (bounded): app.migrate is the operator's command, and
    // its output is what they look for after an `up` or a `deploy`.
    const output = outputSince(logFile, offset, MIGRATE_EVENT_LINES);
    if (info.code !== 0) {
      this.event({ type: 'step', message: 'migrations failed', data: { code: info.code, signal: info.signal, output } });
      throw new EngineStartError('migrations', `exited with ${info.signal ?? `code ${info.code}`}`, tailFile(logFile, LOG_TAIL_LINES), logFile);
    }
    this.event({ type: 'step', message: 'migrations done', data: { output } });
  }

  /** Stops everything in reverse dependency order (SIGTERM, then SIGKILL after a grace). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.state = 'stopping';
    this.saveRunState();
    this.event({ type: 'cluster.stopping', message: `stopping cluster ${this.opts.topo.cluster}` });
    clearTimeout(this.livenessTimer);
    clearInterval(this.secretsTimer);
    for (const m of this.managed.values()) if (m.restartTimer) clearTimeout(m.restartTimer);
    for (const group of stopPlan(this.opts.topo)) {
      await Promise.all(group.map((svc) => this.stopOne(this.get(svc.id))));
    }
    this.saveRunState();
    this.event({ type: 'cluster.stopped', message: `cluster ${this.opts.topo.cluster} stopped` });
  }

  private async stopOne(m: Managed): Promise<void> {
    const proc = m.proc;
    m.phase = 'stopped';
    if (!proc || !this.opts.substrate.isAlive(proc.pid)) return;
    const { substrate } = this.opts;
    if (stopsMainFirst(this.opts.topo.config, m.svc.kind)) {
      // Its process drains the command, then stops it (src/app/command.ts); SIGKILL below still takes the group.
      try {
        process.kill(proc.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    } else substrate.signal(proc.pid, 'SIGTERM');
    const grace = stopGraceMs(m.svc.kind);
    const timer = new AbortController();
    const killed = await Promise.race([
      proc.exited.then(() => false),
      sleep(grace, timer.signal).then(
        () => true,
        () => false,
      ),
    ]);
    timer.abort(); // so a pending grace timer does not keep the supervisor alive after the exit
    if (killed) {
      substrate.signal(proc.pid, 'SIGKILL');
      await proc.exited;
    }
    this.saveRunState();
    this.event({
      type: 'service.stopped',
      message: `${m.svc.id} stopped${killed ? ` (killed after ${grace} ms grace)` : ''}`,
      node: m.svc.node,
      service: m.svc.kind,
    });
  }
}
