import path from 'node:path';
import {
  archiveNodeOf,
  controllerNode,
  controllerNodes,
  findService,
  hostStateDir,
  httpsPort,
  stopsMainFirst,
  type Secrets,
  type ServiceInstance,
  type Topology,
} from '../config/index.js';
import { driverFor } from '../drivers/index.js';
import { SERVICES, stopGraceMs } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { UnitRole } from './agent-types.js';
import { timerSchedule, type TimerSchedule } from './schedule.js';
import { serviceUser } from './service-users.js';

/**
 * One unit a host runs for the cluster, whatever runs it (systemd, or hastack's keeper). Pure
 * data: `systemd.ts` renders it as a unit file, `keeper.ts` runs it.
 */
export interface UnitSpec {
  /** `hastack-<cluster>-<node>-<kind>`, `hastack-<cluster>-controller`, ... (no `.service`). */
  readonly name: string;
  readonly role: UnitRole;
  /** `<node>/<kind>` for a service unit. */
  readonly serviceId?: string;
  readonly description: string;
  /** Run before every start (the agent's `prepare`); empty: none. */
  readonly pre: readonly string[];
  readonly exec: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** Between SIGTERM and SIGKILL when stopping (the descriptor's stopGraceMs for services). */
  readonly stopTimeoutMs: number;
  /** First restart delay after an exit (supervisor.restartBackoffMinMs). */
  readonly restartSec: number;
  /** Cap of the keeper's doubling restart delay (supervisor.restartBackoffMaxMs). */
  readonly restartMaxSec: number;
  /** Bounds `pre` + start: a replica provisioned from a backup may copy gigabytes first. */
  readonly startTimeoutMs: number;
  readonly limits: { readonly nofile: number };
  /** stdout and stderr are appended here (`<svc.dir>/service.log`). */
  readonly logFile: string;
  /** A unit that runs once and exits (the backup), started by its timer rather than kept up. */
  readonly timer?: TimerSchedule;
  /** Units that must not run beside this one (the distribution's own keepalived.service). */
  readonly conflicts?: readonly string[];
  /**
   * The unprivileged account (and group of the same name) the service runs as: systemd's
   * `User=`/`Group=` with its sandboxing, the keeper's setuid/setgid. `pre` still runs as root.
   * Absent: the unit runs as root (keepalived, the controller, the backup; see service-users.ts).
   */
  readonly user?: string;
  /** With `user`: the only paths it may write (systemd `ReadWritePaths=`; the rest is read-only). */
  readonly writablePaths?: readonly string[];
  /** With `user`: capabilities it keeps (CAP_NET_BIND_SERVICE for a port below 1024). */
  readonly capabilities?: readonly string[];
  /**
   * `mixed`: the stop's SIGTERM goes to the main process only, the SIGKILL after the grace to
   * the whole group (systemd `KillMode=mixed`; a command app drains first, src/config
   * stopsMainFirst). Absent: the whole group gets both (`control-group`).
   */
  readonly killMode?: 'mixed';
}

export interface UnitsOptions {
  /** The node program on the host (process.execPath there). */
  readonly nodeBin: string;
  /** `<installDir>/dist/src/cli/main.js` on the host. */
  readonly cliMain: string;
  readonly asRoot: boolean;
  readonly secrets: Secrets;
  /** Where keepalived.conf lives on the host (default /etc/keepalived). */
  readonly keepalivedDir?: string;
}

/**
 * 65536: MariaDB, memcached (-c 1024) and the load balancer each hold a socket per client plus
 * files; Debian's default soft limit of 1024 is what a busy lb runs out of first.
 */
const NOFILE = 65_536;
/**
 * Start budget of a unit (ExecStartPre included), unless the service's descriptor sets its own
 * (`hostStartTimeoutMs`: a MariaDB replica may first provision its datadir from a live node).
 */
const START_TIMEOUT_MS = 5 * 60_000;
/** A backup copies the database: it gets the same bound as provisioning a replica from one. */
const BACKUP_TIMEOUT_MS = 35 * 60_000;

export const KEEPALIVED_DIR = '/etc/keepalived';

export function unitPrefix(cluster: string): string {
  return `hastack-${cluster}`;
}

export function serviceUnitName(topo: Topology, svc: ServiceInstance): string {
  return `${unitPrefix(topo.cluster)}-${svc.node}-${svc.kind}`;
}

export function keepalivedConfFile(opts: Pick<UnitsOptions, 'keepalivedDir'>): string {
  return path.posix.join(opts.keepalivedDir ?? KEEPALIVED_DIR, 'keepalived.conf');
}

export function keepalivedCheckScript(topo: Topology, opts: Pick<UnitsOptions, 'keepalivedDir'>): string {
  return path.posix.join(opts.keepalivedDir ?? KEEPALIVED_DIR, `${unitPrefix(topo.cluster)}-lb-check.sh`);
}

function agentArgv(opts: UnitsOptions, topo: Topology, sub: string, ...rest: string[]): string[] {
  return [opts.nodeBin, opts.cliMain, '_agent', sub, '--state', hostStateDir(topo.config), ...rest];
}

function nodeOf(topo: Topology, node: string): Topology['nodes'][number] {
  const n = topo.nodes.find((x) => x.name === node);
  if (!n) throw new HastackError(ErrorCode.NOT_FOUND, `no node "${node}" in cluster ${topo.cluster}; nodes: ${topo.nodes.map((x) => x.name).join(', ')}`);
  return n;
}

/**
 * A service whose command line is decided by its `prepare` at each start: Galera (prepare picks
 * `--wsrep-new-cluster` or `--wsrep-start-position=...` from the node's recovered position). Its
 * unit cannot carry the command; the agent's prepare writes it to `execArgsFile` and the unit
 * runs it through `sh -c 'exec ...'`, so the engine is still the unit's main process.
 */
export function hasDynamicCommand(topo: Topology, svc: ServiceInstance): boolean {
  return svc.kind === 'mariadb' && topo.config.database.mode === 'galera';
}

export function execArgsFile(svc: ServiceInstance): string {
  return path.posix.join(svc.dir, 'exec-args');
}

/** `set -f`: no globbing of the words read; the arguments carry no blanks (prepare checks). */
const DYNAMIC_EXEC = 'set -f; exec $(cat "$0")';

/** The lowest port the service listens on: a load balancer with lb.tls also has `ports.https` (443 on hosts). */
function lowestPort(topo: Topology, svc: ServiceInstance): number {
  return svc.kind === 'lb' && topo.config.lb.tls !== undefined ? Math.min(svc.port, httpsPort(topo.config)) : svc.port;
}

/** Below this port binding needs CAP_NET_BIND_SERVICE. */
const FIRST_UNPRIVILEGED_PORT = 1024;

function serviceUnit(topo: Topology, svc: ServiceInstance, opts: UnitsOptions): UnitSpec {
  // Run by root (the agent is): the service gets its own account; the engine is then not root,
  // so its command carries no "run as root anyway" flag (memcached -u root, mariadbd user=root).
  const user = opts.asRoot ? serviceUser(svc.kind) : undefined;
  const ctx = { topo, secrets: opts.secrets, svc, asRoot: opts.asRoot && user === undefined };
  const cmd = driverFor(svc.kind).command(ctx);
  const exec = hasDynamicCommand(topo, svc) ? ['/bin/sh', '-c', DYNAMIC_EXEC, execArgsFile(svc)] : [cmd.command, ...cmd.args];
  const sup = topo.config.supervisor;
  return {
    name: serviceUnitName(topo, svc),
    role: 'service',
    serviceId: svc.id,
    description: `hastack ${topo.cluster}: ${svc.kind} on ${svc.node} (${svc.address}:${svc.port})`,
    pre: agentArgv(opts, topo, 'prepare', '--id', svc.id),
    exec,
    env: { ...cmd.env },
    cwd: cmd.cwd ?? svc.dir,
    stopTimeoutMs: stopGraceMs(svc.kind),
    ...(stopsMainFirst(topo.config, svc.kind) ? { killMode: 'mixed' as const } : {}),
    restartSec: sup.restartBackoffMinMs / 1000,
    restartMaxSec: sup.restartBackoffMaxMs / 1000,
    startTimeoutMs: SERVICES[svc.kind].hostStartTimeoutMs ?? START_TIMEOUT_MS,
    limits: { nofile: NOFILE },
    logFile: path.posix.join(svc.dir, 'service.log'),
    ...(user !== undefined ? { user, writablePaths: [svc.dir], ...(lowestPort(topo, svc) < FIRST_UNPRIVILEGED_PORT ? { capabilities: ['CAP_NET_BIND_SERVICE'] } : {}) } : {}),
  };
}

/**
 * Every unit `node` needs, in start order of the services (the registry's startPlan is applied by
 * `node-up`; here services come in topology order), then the controller, keepalived and the
 * backup timer where they apply.
 */
export function unitsForNode(topo: Topology, node: string, opts: UnitsOptions): UnitSpec[] {
  const n = nodeOf(topo, node);
  const sup = topo.config.supervisor;
  const common = {
    env: {},
    restartSec: sup.restartBackoffMinMs / 1000,
    restartMaxSec: sup.restartBackoffMaxMs / 1000,
    startTimeoutMs: START_TIMEOUT_MS,
    limits: { nofile: NOFILE },
  };
  const units: UnitSpec[] = [];
  for (const kind of n.services) {
    const svc = findService(topo, node, kind);
    if (svc) units.push(serviceUnit(topo, svc, opts));
  }
  const prefix = unitPrefix(topo.cluster);
  // The admin API's node, and with failover.auto every etcd node (controllerNodes): each decides
  // through the election, so no one machine's loss leaves the cluster without a controller.
  if (controllerNodes(topo.config, topo.nodes).some((c) => c.name === node)) {
    const dir = path.posix.join(hostStateDir(topo.config), node, 'controller');
    const admin = controllerNode(topo.config, topo.nodes).name === node;
    units.push({
      ...common,
      name: `${prefix}-controller`,
      role: 'controller',
      description: `hastack ${topo.cluster}: controller (${admin ? 'admin API, status, ' : ''}failover manager) on ${node}`,
      pre: [],
      exec: [opts.nodeBin, opts.cliMain, '_controller', '--state', hostStateDir(topo.config), '--node', node],
      cwd: dir,
      // the controller drains its admin API and finishes the failover step it is in
      stopTimeoutMs: 15_000,
      logFile: path.posix.join(dir, 'service.log'),
    });
  }
  // The binlog archive (backup.binlogArchive) is kept on its node's machine and streamed there.
  if (topo.config.backup.binlogArchive && archiveNodeOf(topo) === node) {
    const dir = path.posix.join(hostStateDir(topo.config), node, 'binlog-archive');
    units.push({
      ...common,
      name: `${prefix}-binlog-archive`,
      role: 'archive',
      description: `hastack ${topo.cluster}: binlog archive (point-in-time recovery), streamed from the ${topo.config.database.mode === 'galera' ? 'synced nodes' : 'primary'}`,
      pre: [],
      exec: [opts.nodeBin, opts.cliMain, '_binlog-archive', '--state', hostStateDir(topo.config)],
      cwd: dir,
      // mariadb-binlog is stopped and the file being streamed sealed
      stopTimeoutMs: 15_000,
      logFile: path.posix.join(dir, 'service.log'),
    });
  }
  if (topo.config.lb.vip !== undefined && n.services.includes('lb')) {
    const dir = path.posix.join(hostStateDir(topo.config), node, 'keepalived');
    units.push({
      ...common,
      name: `${prefix}-keepalived`,
      role: 'keepalived',
      description: `hastack ${topo.cluster}: keepalived holding the floating address ${topo.config.lb.vip} with the other load balancers`,
      pre: keepalivedPre(dir),
      // Our own pid files: the distribution's keepalived (if any) keeps /run/keepalived.pid.
      exec: [
        'keepalived',
        '--dont-fork',
        '--log-console',
        `--use-file=${keepalivedConfFile(opts)}`,
        `--pid=${path.posix.join(dir, 'keepalived.pid')}`,
        `--vrrp_pid=${path.posix.join(dir, 'vrrp.pid')}`,
        `--checkers_pid=${path.posix.join(dir, 'checkers.pid')}`,
      ],
      cwd: dir,
      stopTimeoutMs: 10_000,
      logFile: path.posix.join(dir, 'service.log'),
      // Two VRRP speakers for one address on one host would fight; ours replaces the package's.
      conflicts: ['keepalived.service'],
    });
  }
  const schedule = topo.config.backup.schedule;
  if (schedule !== undefined && backupNodesOf(topo).includes(node)) {
    const dir = path.posix.join(hostStateDir(topo.config), node, 'backup');
    units.push({
      ...common,
      name: `${prefix}-backup`,
      role: 'backup',
      description: `hastack ${topo.cluster}: scheduled backup (${schedule.trim()})`,
      pre: [],
      // Every database node has the timer; the one whose replica is the source now takes the
      // backup, the others log that they skipped (see backupNodesOf).
      exec: [opts.nodeBin, opts.cliMain, 'backup', '-f', path.posix.join(hostStateDir(topo.config), 'hastack.yaml'), '--state-root', topo.config.hosts.stateDir, '--only-on', node],
      cwd: dir,
      stopTimeoutMs: 60_000,
      startTimeoutMs: BACKUP_TIMEOUT_MS,
      logFile: path.posix.join(dir, 'service.log'),
      timer: timerSchedule(schedule),
    });
  }
  return units;
}

/**
 * Before keepalived starts: its pid files that name a zombie are removed. keepalived refuses to
 * start ("daemon is already running") while a pid file names a process that exists, and a zombie
 * does: after a SIGKILL its VRRP child is orphaned, and where PID 1 does not reap orphans (a
 * container without an init, the keeper's hosts) it stays a zombie forever, so keepalived would
 * never come back and the stale address it left on the interface would never be removed (a
 * keepalived starting as BACKUP removes it). A live process's pid file is kept (a live speaker is
 * never doubled); a dead one's keepalived removes itself.
 *
 * And `net.ipv4.ip_nonlocal_bind` = 1 (this host's network namespace; at every start, so after a
 * reboot too): the load balancer then listens on the floating address before keepalived brings it
 * here (src/lb/vip-follow.ts), and the first move to this host has no instant in which the kernel
 * refuses connections. A /proc that refuses the write (a container) only costs that instant.
 * `procSys`: tests point it elsewhere.
 */
export function keepalivedPre(dir: string, procSys = '/proc/sys'): string[] {
  const files = ['keepalived.pid', 'vrrp.pid', 'checkers.pid'].map((f) => path.posix.join(dir, f));
  const nonlocal = path.posix.join(procSys, 'net/ipv4/ip_nonlocal_bind');
  const script = `for f in ${files.join(' ')}; do p=$(cat "$f" 2>/dev/null) || continue; grep -qs '^State:[[:space:]]*Z' "/proc/$p/status" && rm -f "$f"; done; { echo 1 > ${nonlocal}; } 2>/dev/null; exit 0`;
  return ['/bin/sh', '-c', script];
}

/**
 * The nodes the backup timer runs on: every database node. mariabackup reads the datadir, so a
 * backup is taken on the machine of its source (a replicating replica, else the primary), and
 * which machine that is changes with every failover or switchover. A timer on each database node
 * follows the roles without a redeploy: when it fires, `hastack backup --only-on NODE` asks the
 * cluster who the source is now and runs only on that node (the others log a skip); the copy then
 * goes to `backup.target` or the default target re-derived from the roles at that moment.
 */
export function backupNodesOf(topo: Topology): string[] {
  return [...new Set(topo.services.filter((s) => s.kind === 'mariadb').map((s) => s.node))];
}

/**
 * What one service's rendered config and command depend on: the part of the cluster definition
 * `deploy` compares to decide whether the unit must restart. A change elsewhere (another tier's
 * settings, the backup schedule) leaves it running. The node list is in every service's inputs:
 * peers, replicas, upstreams and Sentinels are all derived from it.
 */
export function serviceInputs(topo: Topology, svc: ServiceInstance): Record<string, unknown> {
  const c = topo.config;
  const base: Record<string, unknown> = { svc, cluster: c.cluster, nodes: topo.nodes, ports: c.ports, supervisor: c.supervisor, appModule: topo.appModule };
  // The sections the kind's config reads (its descriptor's restartOn), in the descriptor's order:
  // the key order is part of the JSON that `deploy` compares with what the host has.
  for (const section of SERVICES[svc.kind].restartOn) base[section] = c[section];
  // A command app's files (deploy's digest of app.dir): new files restart its app servers and workers.
  if ((svc.kind === 'app' || svc.kind === 'worker') && topo.appDigest !== undefined) base['appDigest'] = topo.appDigest;
  return base;
}
