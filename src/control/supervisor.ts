import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { drainMarkerFile, stopsMainFirst, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { firstDatabaseNode, waitSentinelsReady } from '../engines/index.js';
import { descriptorOf, startPlan, stopGraceMs, stopPlan, type ProbeResult, type ServiceContext, type ServiceDriver } from '../registry/index.js';
import { EngineStartError, ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent, type ClusterEvent } from '../shared/events.js';
import { tailFile } from '../shared/files.js';
import { truncateIfOver } from '../shared/logfile.js';
import { backoffMs, sleep } from '../shared/retry.js';
import { HOST, mergeLinks, processStartTime, type Link, type RunningProcess, type Substrate, writeRunState, type RunState } from '../substrate/index.js';
import { driverFor } from '../drivers/index.js';
import { runMigrations } from './migrate-step.js';
import { writeOperatorStopped } from './service-control.js';
import { SecretsWatch } from './secrets-watch.js';
import { logFileOf } from './log-files.js';

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
  /** The restart in flight (prepare can take seconds: an install, a copy from a live node). */
  restarting?: Promise<void>;
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
const LOG_TAIL_LINES = 15;
/**
 * Liveness probes of services whose driver opts in (`livenessFailures`): every 2 s, so a stuck
 * worker is restarted within seconds of its own bound, at the cost of one HTTP GET per 2 s each.
 */
const LIVENESS_INTERVAL_MS = 2_000;
// 64 MiB per service log (plus a 16 MiB tail in `<log>.1`): days of a chatty engine's output,
// and a node with a dozen services stays under a GiB however long it runs.
const SERVICE_LOG_MAX_BYTES = 64 * 1024 * 1024;
/** The event the supervisor logs once it uses the passwords in secrets.json (`secrets rotate` waits for it). */

/**
 * Owns the cluster's processes: starts them in dependency order, waits (bounded) for each to be
 * healthy, restarts a crashed one with capped backoff, and stops them in reverse order.
 * Drivers know the engines; the supervisor knows only processes, health and order.
 */
export class Supervisor {
  private readonly managed = new Map<string, Managed>();
  /**
   * The kernel's start time of this process, not the time this object was made: `up`/`down`
   * recognise a live supervisor by it (cluster.ts isOurs, 5 s slack), and on a loaded machine
   * loading the CLI took longer than that (CI: `down` took a live supervisor for dead and it
   * outlived the cluster; the next `up` found its admin port in use).
   */
  private readonly startedAt = new Date(processStartTime(process.pid) ?? Date.now()).toISOString();
  private state: RunState['state'] = 'starting';
  /** Services the operator stopped (`hastack stop`): left alone until `hastack start`. */
  private readonly operatorStopped = new Set<string>();
  /** Nodes a fault took down: their services stay down (no restart) until healed. */
  private readonly downNodes = new Set<string>();
  private stopping: Promise<void> | undefined;
  /** Nodes a fault froze (SIGSTOP): their failing probes are the fault, not a reason to restart. */
  private readonly pausedNodes = new Set<string>();
  private livenessTimer: NodeJS.Timeout | undefined;
  /** Network links a partition fault cut (netns only), until `healPartition`. */
  private cut: Link[] = [];
  private readonly secretsWatch: SecretsWatch;

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
    // A new run starts with every service and nothing drained: the operator's marks were the last run's.
    writeOperatorStopped(opts.topo.stateDir, this.operatorStopped);
    for (const svc of opts.topo.services) if (svc.kind === 'app') fs.rmSync(drainMarkerFile(svc), { force: true });
    this.secretsWatch = new SecretsWatch(opts.topo.stateDir, opts.secrets, (message) => this.event({ type: 'step', message }));
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
          await Promise.all(step.services.map((svc) => this.startInUp(this.get(svc.id), firstDb)));
        } else if (step.type === 'sentinels-ready') {
          this.event({ type: 'step', message: 'waiting for the sentinels to discover the replica and each other' });
          sentinels = waitSentinelsReady(topo, this.opts.secrets, 30_000);
          // Awaited below; a failure meanwhile must not count as unhandled.
          sentinels.catch(() => undefined);
        } else {
          await runMigrations(this.opts.topo, this.opts.substrate, (e) => this.event(e));
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
    // The kernel's start time (see `startedAt` above): what isOurs compares a recorded pid with.
    m.startedAt = processStartTime(proc.pid) ?? Date.now();
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

  /**
   * A Galera joiner whose process exited during its first start is started once more: a stall of
   * ~2 s (evs.suspect_timeout) on a loaded machine cut it off mid state transfer ("Received
   * NON-PRIMARY ... SELF-LEAVE", SIGABRT; seen in CI). Never while its process still runs.
   */
  private async startInUp(m: Managed, firstDb: string | undefined): Promise<void> {
    const joiner = this.opts.topo.config.database.mode === 'galera' && m.svc.kind === 'mariadb' && m.svc.node !== firstDb;
    await this.startOne(m).catch(async (e: unknown) => {
      if (!joiner || !(e instanceof EngineStartError) || this.livePid(m) !== undefined || this.stopping) throw e;
      this.event({ type: 'step', message: `${m.svc.id} did not join the cluster (${describeError(e).split('\n')[0]}); starting it once more` });
      await this.startOne(m);
    });
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

  /**
   * One restart of a service at a time. A second one while the first prepares (a heal-node
   * retried, a heal right after a kill, the backoff timer) ran a second mariadb-install-db on the
   * same directory and spawned a second server: the first, no longer tracked, kept the port and
   * survived the next kill-node (seen in the soak, a primary the supervisor thought dead).
   */
  private restart(m: Managed): Promise<void> {
    m.restarting ??= this.restartOnce(m).finally(() => (m.restarting = undefined));
    return m.restarting;
  }

  private async restartOnce(m: Managed): Promise<void> {
    m.restartTimer = undefined;
    if (this.stopping || m.phase !== 'running' || this.downNodes.has(m.svc.node)) return;
    m.restarts += 1;
    this.secretsWatch.refresh();
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

  /**
   * The operator's `hastack stop` (issue 25): stops each service (SIGTERM, then SIGKILL after its
   * grace) and leaves it stopped, no restart, until `startServices`; recorded in operator.json.
   */
  async stopServices(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const m = this.get(id);
      clearTimeout(m.restartTimer);
      m.restartTimer = undefined;
      this.operatorStopped.add(id);
      writeOperatorStopped(this.opts.topo.stateDir, this.operatorStopped);
      await this.stopOne(m);
      this.event({ type: 'service.operator', message: `${id} stopped by the operator; it stays stopped until "hastack start ${id}"`, node: m.svc.node, service: m.svc.kind });
    }
  }

  /** The operator's `hastack start`: starts each service that is not running, each healthy before the next. */
  async startServices(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const m = this.get(id);
      this.operatorStopped.delete(id);
      writeOperatorStopped(this.opts.topo.stateDir, this.operatorStopped);
      if (this.livePid(m) !== undefined && m.phase !== 'stopped') continue;
      if (this.downNodes.has(m.svc.node)) throw new HastackError(ErrorCode.BAD_REQUEST, `node ${m.svc.node} is down by a chaos fault; the chaos run brings it back when it ends`);
      m.attempt = 0;
      this.secretsWatch.refresh();
      await this.startOne(m);
      this.saveRunState();
      this.event({ type: 'service.operator', message: `${id} started by the operator`, node: m.svc.node, service: m.svc.kind });
    }
  }

  /** The operator's `hastack drain NODE [--undo]`: the app server's /readyz answers 503 while its marker exists. */
  drainNode(app: ServiceInstance, undo: boolean): void {
    const marker = drainMarkerFile(app);
    if (undo) fs.rmSync(marker, { force: true });
    else fs.writeFileSync(marker, `${new Date().toISOString()}\n`);
    const message = undo
      ? `${app.id} undrained by the operator: the load balancers send it requests again`
      : `${app.id} drained by the operator: the load balancers send it no new requests`;
    this.event({ type: 'service.operator', message, node: app.node, service: app.kind, data: { drained: !undo } });
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
    this.secretsWatch.close();
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
