import fs from 'node:fs';
import path from 'node:path';
import type { Secrets, ServiceInstance, Topology } from '../config/index.js';
import { servicesOf, substrateTraits } from '../config/index.js';
import { appendLog } from '../shared/logfile.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { portOpen } from '../shared/net.js';
import { checkSocketPath, runToCompletion, writeFileAtomic } from './common.js';
import {
  ADMIN_TIMEOUT_MS,
  bootstrapPrimary,
  installDatadir,
  mariadbPaths,
  memoryLines,
  secureLocalAccounts,
  serverBaseLines,
  serverIdOf,
  serverTlsLines,
  statusVars,
  withAdmin,
  withRemoteAdmin,
  type MariadbPaths,
} from './mariadb.js';
import {
  NIL_UUID,
  describeRecovery,
  isFreshCluster,
  parseGrastate,
  parseRecoveredPosition,
  planRecovery,
  renderGrastate,
  type GaleraPosition,
  type Grastate,
  type NodeFacts,
  type RecoveryPlan,
} from './galera-recover.js';
import { databaseTlsOn, requireNodeTls, type NodeTlsFiles } from './tls.js';
import { FAST_SST_METHOD, prepareFastSst } from './galera-sst.js';
import { galeraBinlogLines } from './galera-binlog.js';
import type { ProbeResult, ProcessSpec, ServiceContext, ServiceDriver } from '../registry/index.js';

/*
 * MariaDB in `galera` mode: every node writable, commits certified synchronously across the
 * cluster (galera-4). Who bootstraps is decided once, before any node starts, and handed to that
 * node's `prepare` through a marker file (`galera-bootstrap.json`): the first `up` (no datadir
 * anywhere) marks the first node; a full-cluster restart marks the node the recovery plan chose
 * (galera-recover.ts). Every other start, including the supervisor's restart after a crash, joins
 * the running cluster, from the position `--wsrep-recover` read, so Galera can use IST.
 */

/** Galera's standard ports; each node has its own loopback address, so they never collide. */
export const GALERA_PORTS = { gcomm: 4567, ist: 4568, sst: 4444 } as const;

const PROVIDER_CANDIDATES = ['/usr/lib/galera/libgalera_smm.so', '/usr/lib/libgalera_smm.so', '/usr/lib/x86_64-linux-gnu/galera/libgalera_smm.so'];

/** Where galera-4 installed its provider library (Debian 12: /usr/lib/galera/libgalera_smm.so). */
export function galeraProviderPath(): string {
  return PROVIDER_CANDIDATES.find((p) => fs.existsSync(p)) ?? (PROVIDER_CANDIDATES[0] as string);
}

export interface GaleraPaths extends MariadbPaths {
  readonly grastate: string;
  /** Present only between "this node bootstraps" being decided and its next start. */
  readonly bootstrapMarker: string;
  /** The extra mariadbd arguments `prepare` chose for the coming start (read by `command`). */
  readonly startArgs: string;
  readonly recoverLog: string;
  readonly sstLogDir: string;
  /** Holds `wsrep_sst_hsmariabackup` (galera-sst.ts), first on mariadbd's PATH. */
  readonly sstBinDir: string;
}

export function galeraPaths(svc: ServiceInstance): GaleraPaths {
  const base = mariadbPaths(svc);
  return {
    ...base,
    grastate: path.join(base.dataDir, 'grastate.dat'),
    bootstrapMarker: path.join(svc.dir, 'galera-bootstrap.json'),
    startArgs: path.join(svc.dir, 'galera-start.json'),
    recoverLog: path.join(svc.dir, 'wsrep-recover.log'),
    sstLogDir: path.join(svc.dir, 'sst-logs'),
    sstBinDir: path.join(svc.dir, 'sst-bin'),
  };
}

export interface GaleraCnfParams {
  readonly id: string;
  readonly cluster: string;
  readonly nodeName: string;
  readonly asRoot: boolean;
  readonly paths: GaleraPaths;
  readonly address: string;
  readonly port: number;
  /** Every galera node's address, this one included (gcomm:// list). */
  readonly peers: readonly string[];
  /** The source addresses allowed to connect to gcomm and IST (`galeraAllowlist`). */
  readonly allowlist: readonly string[];
  readonly bufferPoolMb: number;
  readonly providerPath: string;
  /** The donor's mariabackup logs into its own server with this (root over the socket). */
  readonly sstPassword: string;
  /** `mariabackup`, or the same script without its fixed 10 s sleep (galera-sst.ts). */
  readonly sstMethod: string;
  /** This node's TLS files when database TLS is on (tls.ts): gcomm, IST and SST encrypted. */
  readonly tls?: NodeTlsFiles;
  /** backup.binlogArchive: every node keeps a binlog of every write set (`galeraBinlogLines`). */
  readonly binlog?: { readonly position: number };
}

/**
 * The addresses that may connect to this cluster's gcomm (4567) and IST (4568) ports: its galera
 * nodes. Measured here: Galera binds its gcomm connections to `gmcast.listen_addr`, so a member
 * is seen at its node address, and a stranger at another address is logged "Connection not
 * allowed, IP ... not found in allowlist" and stays alone. The IST sender does not bind: its
 * connection leaves from the address the route picks, the node address on a host or namespace
 * with one address per node, but 127.0.0.1 between loopback addresses. So the local substrate,
 * where every node is on this one machine and loopback is unreachable from others, also allows
 * 127.0.0.1 (without it every IST is refused and the joiner aborts).
 */
export function galeraAllowlist(topo: Topology): string[] {
  const nodes = servicesOf(topo, 'mariadb').map((s) => s.address);
  return substrateTraits(topo.config).sharedLoopback ? [...nodes, '127.0.0.1'] : nodes;
}

/**
 * Failure detection, as measured in ENGINE-NOTES: defaults (suspect 5 s, inactive 15 s) froze
 * every commit 6 s on a node kill; these gave 3.1–3.5 s and were clean in 6 of 6 runs, while
 * suspect 1 s / inactive 2 s lost quorum in 2 of 5 runs on this 2-core machine.
 * `evs.install_timeout` defaults to half the inactive timeout (2 s here): when the survivors of a
 * kill have not agreed on their next view by then ("install timer expired"), each drops to a
 * non-Primary component of its own (seen in CI under load; src/control/galera-keeper.ts gives the
 * majority its component back). 4 s, the most Galera allows (the inactive timeout), doubles that
 * margin; an agreement reached sooner installs the view at once, so a clean kill is not slower.
 */
const EVS_OPTIONS = ['evs.suspect_timeout=PT2S', 'evs.inactive_timeout=PT4S', 'evs.install_timeout=PT4S', 'evs.keepalive_period=PT0.5S', 'evs.inactive_check_period=PT0.5S'];

/** my.cnf of one galera node. Pure; rendered on every start. Holds the SST password: mode 0600. */
export function renderGaleraCnf(p: GaleraCnfParams): string {
  const { paths } = p;
  const provider = [
    `gmcast.listen_addr=tcp://${p.address}:${GALERA_PORTS.gcomm}`,
    `ist.recv_addr=${p.address}:${GALERA_PORTS.ist}`,
    ...EVS_OPTIONS,
    // 32 MB of write-set cache: enough for a node down a few minutes under a test or demo load to
    // come back by IST; beyond that it gets a full state transfer. Recovered across restarts, so
    // IST also works after a full-cluster restart (the default throws the cache away on start).
    'gcache.size=32M',
    'gcache.recover=yes',
    // Galera's own automatic restore of the last primary component after a full crash is off:
    // hastack's recovery (galera-recover.ts) decides, from every node's position, and logs why.
    'pc.recovery=FALSE',
    // Group traffic and IST over TLS; each side verifies the other's certificate against the
    // cluster's CA, so only a holder of a certificate hastack issued for this cluster can join.
    ...(p.tls ? ['socket.ssl=YES', `socket.ssl_ca=${p.tls.ca}`, `socket.ssl_cert=${p.tls.cert}`, `socket.ssl_key=${p.tls.key}`] : []),
  ].join(';');
  return [
    `# Rendered by hastack on every start of ${p.id} (galera mode); edits here are overwritten.`,
    ...serverBaseLines(p),
    '',
    '# Galera',
    'wsrep_on=ON',
    `wsrep_provider=${p.providerPath}`,
    `wsrep_cluster_name=${p.cluster}`,
    `wsrep_cluster_address=gcomm://${p.peers.join(',')}`,
    // Membership by address: without it any machine that reaches 4567 and knows the cluster name
    // joins and receives every row by state transfer. Always on, on every substrate.
    `wsrep_allowlist=${p.allowlist.join(',')}`,
    `wsrep_node_name=${p.nodeName}`,
    `wsrep_node_address=${p.address}`,
    `wsrep_sst_receive_address=${p.address}:${GALERA_PORTS.sst}`,
    `wsrep_provider_options="${provider}"`,
    // mariabackup, not rsync: hastack runs the servers as root here, and the rsync SST daemon drops
    // to `nobody` and fails (error 23); mariabackup works as root, and the donor stays writable
    // during the copy (ENGINE-NOTES: 12–14 s for ~100 MB).
    // (hsmariabackup: the same, without the donor's fixed 10 s sleep; galera-sst.ts.)
    `wsrep_sst_method=${p.sstMethod}`,
    `wsrep_sst_auth=root:${p.sstPassword}`,
    // Galera needs row events and interleaved auto-increment locks (no table lock across nodes).
    'binlog_format=ROW',
    'innodb_autoinc_lock_mode=2',
    'default_storage_engine=InnoDB',
    '',
    '# Durability: every node flushes at commit. A full-cluster crash kills every copy at once,',
    '# and then only what is on disk can be recovered.',
    'innodb_flush_log_at_trx_commit=1',
    ...(p.binlog ? galeraBinlogLines(p.binlog.position) : []),
    '',
    ...memoryLines(p.bufferPoolMb),
    // SST (wsrep_sst_mariabackup) reads the same ssl_* lines for its TLS stream.
    ...serverTlsLines(p.tls),
    '',
    '[sst]',
    // mariabackup writes its logs to /tmp/sst_log_archive otherwise (ENGINE-NOTES).
    `sst-log-archive-dir=${paths.sstLogDir}`,
    // The joiner's socat listens on every address of the machine otherwise (TCP-LISTEN:4444): a
    // second cluster's joiner on this machine could not listen, and a donor could stream one
    // cluster's rows into the other's listener (measured: a socat already on *:4444 made every
    // join abort with SIGABRT; it is what failed CI when two tests joined Galera nodes at once).
    // socat's `bind` holds the joiner to its node's address, like gmcast.listen_addr and
    // ist.recv_addr above; on the donor it makes the stream leave from its node's address.
    `sockopt=bind=${p.address.includes(':') ? `[${p.address}]` : p.address}`,
    // The SST stream (socat) over TLS with the server's certificate, and the peer's chain checked
    // against the cluster's CA. VERIFY_CA, not VERIFY_IDENTITY: the CA is this cluster's own and
    // signs only its nodes, and the donor would otherwise check the joiner's name, not its address.
    ...(p.tls ? ['ssl-mode=VERIFY_CA'] : []),
    '',
    '[client]',
    `socket=${paths.socket}`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Health

/** wsrep_local_state values (Galera's node state machine). */
const LOCAL_STATE: Readonly<Record<string, string>> = { '1': 'joining', '2': 'donor', '3': 'joined', '4': 'synced' };

export interface GaleraHealth {
  readonly healthy: boolean;
  readonly primary: boolean;
  readonly synced: boolean;
  readonly detail: string;
}

/**
 * Health from SHOW STATUS LIKE 'wsrep_%'. Pure. Healthy = in the Primary component, ready, and
 * Synced (4) or Donor (2): a mariabackup donor keeps serving reads and writes during the copy, so
 * marking it unhealthy would only take a working node out of rotation. Joining (1) and Joined (3)
 * are unhealthy: the node does not have the cluster's data yet.
 */
export function galeraHealth(v: Readonly<Record<string, string>>): GaleraHealth {
  const status = v['wsrep_cluster_status'] ?? 'unknown';
  const stateNum = v['wsrep_local_state'] ?? '0';
  const state = LOCAL_STATE[stateNum] ?? `state ${stateNum}`;
  const ready = v['wsrep_ready'] === 'ON';
  const size = v['wsrep_cluster_size'] ?? '?';
  const seqno = v['wsrep_last_committed'] ?? '?';
  const primary = status === 'Primary';
  const synced = stateNum === '4';
  const healthy = primary && ready && (synced || stateNum === '2');
  const problems = [...(primary ? [] : [`cluster status ${status} (no quorum)`]), ...(ready ? [] : ['not ready'])];
  const detail = [state, `cluster size ${size}`, `seqno ${seqno}`, ...problems].join(', ');
  return { healthy, primary, synced, detail };
}

export async function readGaleraHealth(ctx: ServiceContext, timeoutMs = ADMIN_TIMEOUT_MS): Promise<GaleraHealth> {
  return withAdmin(ctx, timeoutMs, (c) => statusVars(c, 'wsrep_%').then(galeraHealth));
}

// ---------------------------------------------------------------------------------------------
// Positions and recovery facts

function readGrastate(paths: GaleraPaths): Grastate | undefined {
  try {
    return parseGrastate(fs.readFileSync(paths.grastate, 'utf8'));
  } catch {
    return undefined;
  }
}

function sstInterrupted(paths: GaleraPaths): boolean {
  return fs.existsSync(path.join(paths.dataDir, 'sst_in_progress')) || fs.existsSync(path.join(paths.dataDir, '.sst'));
}

// InnoDB crash recovery of a small datadir takes 1–3 s here; 90 s bounds a large redo log.
const RECOVER_TIMEOUT_MS = 90_000;

/**
 * Runs `mariadbd --wsrep-recover` on this node's datadir (the server must be down) and returns the
 * position InnoDB recovered. Throws with the log's tail when it printed none.
 */
export async function wsrepRecover(ctx: ServiceContext): Promise<GaleraPosition> {
  const paths = galeraPaths(ctx.svc);
  // A fresh log per run, so the position parsed is this run's.
  fs.writeFileSync(paths.recoverLog, '');
  const args = [`--defaults-file=${paths.conf}`, '--wsrep-recover', `--log-error=${paths.recoverLog}`];
  const code = await runToCompletion('mariadbd', args, { logFile: `${paths.recoverLog}.out`, timeoutMs: RECOVER_TIMEOUT_MS, cwd: ctx.svc.dir });
  const log = fs.readFileSync(paths.recoverLog, 'utf8');
  const pos = parseRecoveredPosition(log);
  if (code !== 0 || !pos) {
    const tail = log.trim().split('\n').slice(-3).join(' | ');
    throw new HastackError(ErrorCode.SETUP_FAILED, `mariadbd --wsrep-recover on ${ctx.svc.id} exited ${code} without a position (${tail || 'empty log'}); see ${paths.recoverLog}`);
  }
  return pos;
}

/** True when the position needs `--wsrep-recover`: a crash left seqno -1 on a node that had joined. */
function needsRecover(g: Grastate | undefined): boolean {
  return g === undefined || (g.seqno < 0 && g.uuid !== NIL_UUID);
}

// A supervisor restart that was under way may still hold the datadir for a moment: retry briefly.
const RECOVER_ATTEMPTS = 3;
const RECOVER_RETRY_MS = 2_000;

/** Reads one node's recovery facts (runs --wsrep-recover when grastate lacks the position). */
export async function readNodeFacts(ctx: ServiceContext, opts: { busy?: string } = {}): Promise<NodeFacts> {
  const paths = galeraPaths(ctx.svc);
  const hasDatadir = fs.existsSync(paths.dataDir);
  const grastate = hasDatadir ? readGrastate(paths) : undefined;
  const interrupted = hasDatadir && sstInterrupted(paths);
  const base = { node: ctx.svc.node, hasDatadir, ...(grastate ? { grastate } : {}), sstInterrupted: interrupted };
  if (!hasDatadir || interrupted || !needsRecover(grastate)) return base;
  if (opts.busy !== undefined) return { ...base, recoverError: opts.busy };
  let last: unknown;
  for (let i = 0; i < RECOVER_ATTEMPTS; i++) {
    try {
      return { ...base, recovered: await wsrepRecover(ctx) };
    } catch (e) {
      last = e;
      if (i + 1 < RECOVER_ATTEMPTS) await new Promise((r) => setTimeout(r, RECOVER_RETRY_MS));
    }
  }
  return { ...base, recoverError: describeError(last) };
}

interface BootstrapMarker {
  /** `uuid:seqno` to start from, absent at the very first bootstrap (empty datadir). */
  readonly position?: string;
  readonly reason: string;
  readonly decidedAt: string;
}

/** One node's part of a bootstrap decision (the hosts agent applies it where the node's files are). */
export type BootstrapChoice =
  { readonly bootstrap: true; /** `uuid:seqno`; absent for a brand-new cluster. */ readonly position?: string; readonly reason: string } | { readonly bootstrap: false };

/**
 * Applies one node's part of the decision: safe_to_bootstrap 1 and the marker its `prepare`
 * reads on the chosen node, safe_to_bootstrap 0 and no marker on every other. Idempotent.
 */
export function applyNodeBootstrapChoice(svc: ServiceInstance, choice: BootstrapChoice): void {
  const paths = galeraPaths(svc);
  const g = readGrastate(paths);
  if (g && g.safeToBootstrap !== choice.bootstrap) writeFileAtomic(paths.grastate, renderGrastate({ ...g, safeToBootstrap: choice.bootstrap }), 0o660);
  if (choice.bootstrap) {
    writeMarker(svc, { ...(choice.position !== undefined ? { position: choice.position } : {}), reason: choice.reason, decidedAt: new Date().toISOString() });
  } else {
    fs.rmSync(paths.bootstrapMarker, { force: true });
  }
}

/**
 * Makes the plan's bootstrap node the only one Galera will bootstrap: safe_to_bootstrap 0 in every
 * other node's grastate.dat, 1 in the chosen one's, and the marker its `prepare` reads. Idempotent.
 */
export function applyBootstrapChoice(topo: Topology, plan: Extract<RecoveryPlan, { ok: true }>): void {
  for (const svc of servicesOf(topo, 'mariadb')) {
    applyNodeBootstrapChoice(
      svc,
      svc.node === plan.bootstrap ? { bootstrap: true, position: `${plan.position.uuid}:${plan.position.seqno}`, reason: plan.reason } : { bootstrap: false },
    );
  }
}

function writeMarker(svc: ServiceInstance, m: BootstrapMarker): void {
  fs.mkdirSync(svc.dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(galeraPaths(svc).bootstrapMarker, JSON.stringify(m, null, 2) + '\n');
}

function readMarker(paths: GaleraPaths): BootstrapMarker | undefined {
  try {
    return JSON.parse(fs.readFileSync(paths.bootstrapMarker, 'utf8')) as BootstrapMarker;
  } catch {
    return undefined;
  }
}

/** Reads every galera node's facts and plans (pure planning in galera-recover.ts). */
export async function planClusterRecovery(
  topo: Topology,
  secrets: Secrets,
  asRoot: boolean,
  busy: ReadonlyMap<string, string> = new Map(),
): Promise<{ facts: NodeFacts[]; plan: RecoveryPlan }> {
  const facts: NodeFacts[] = [];
  // One at a time: each --wsrep-recover runs InnoDB recovery, and two cores are shared.
  for (const svc of servicesOf(topo, 'mariadb')) {
    const b = busy.get(svc.node);
    facts.push(await readNodeFacts({ topo, secrets, svc, asRoot }, b !== undefined ? { busy: b } : {}));
  }
  return { facts, plan: planRecovery(facts) };
}

/**
 * Decides, before `up` starts any database node, which galera node bootstraps, and returns it
 * (it is started alone, first). No datadir anywhere: the first node, a brand-new cluster. Every
 * node down with data (a full-cluster crash, or `down`): the recovery plan's choice, the same as
 * `hastack db recover`. `log` receives each step for the event log.
 */
export async function prepareGaleraStart(
  topo: Topology,
  secrets: Secrets,
  asRoot: boolean,
  log: (message: string, data?: Record<string, unknown>) => void,
): Promise<string | undefined> {
  const dbs = servicesOf(topo, 'mariadb');
  const first = dbs[0];
  if (!first) return undefined;
  const fresh = (why: string): string => {
    writeMarker(first, { reason: `first start: ${why}`, decidedAt: new Date().toISOString() });
    log(`galera: new cluster (${why}), ${first.node} bootstraps it and the others join by state transfer`, { bootstrap: first.node });
    return first.node;
  };
  if (dbs.every((s) => !fs.existsSync(galeraPaths(s).dataDir))) return fresh('no node has a datadir');
  log('galera: every node is down and some have data; reading positions to choose the bootstrap node');
  const { facts, plan } = await planClusterRecovery(topo, secrets, asRoot);
  // An `up` interrupted before any node ever ran leaves installed datadirs with no cluster in them.
  if (isFreshCluster(facts)) return fresh('no node ever joined a cluster');
  for (const line of describeRecovery(facts, plan)) log(`galera recovery: ${line.trim()}`, { recovery: true });
  if (!plan.ok) {
    throw new HastackError(ErrorCode.SETUP_FAILED, `cannot restart the galera cluster: ${plan.reason}`);
  }
  applyBootstrapChoice(topo, plan);
  log(`galera recovery: safe_to_bootstrap set on ${plan.bootstrap} only; it starts first with --wsrep-new-cluster`, { bootstrap: plan.bootstrap });
  return plan.bootstrap;
}

// ---------------------------------------------------------------------------------------------
// The driver

/** The extra arguments of the coming start, written by prepare for `command` (which is sync). */
interface StartArgs {
  readonly args: readonly string[];
  readonly why: string;
}

async function anyPeerRunning(ctx: ServiceContext): Promise<string | undefined> {
  const peers = servicesOf(ctx.topo, 'mariadb').filter((s) => s.id !== ctx.svc.id);
  // 500 ms: a live peer's gcomm port answers at once on loopback.
  const open = await Promise.all(peers.map((s) => portOpen(s.address, GALERA_PORTS.gcomm, 500)));
  return peers.find((_, i) => open[i])?.node;
}

// Eviction takes evs.inactive_timeout (4 s) plus a view change; 20 s bounds a slow machine.
const EVICTION_TIMEOUT_MS = 20_000;

/**
 * Waits until no Primary peer still lists this node's previous incarnation as a member. Measured
 * here: a node restarted by the supervisor half a second after a SIGKILL rejoined while the
 * survivors were still suspecting its old identity; their view installation timed out and both
 * survivors dropped to non-Primary (no writes anywhere until a full recovery). Joining after the
 * eviction is the ordinary, clean case. A peer that does not answer is not evidence of the
 * eviction: under load (CI, both cores busy) the survivors answered slower than the 1 s bound,
 * the wait ended at once, and the same loss of quorum followed. So it ends when a peer answers
 * and no Primary one lists this node, or when no peer runs at all (nothing to rejoin); else at the
 * bound. Returns how long it waited.
 */
async function waitUntilEvicted(ctx: ServiceContext): Promise<number> {
  const me = `${ctx.svc.address}:${ctx.svc.port}`;
  const peers = servicesOf(ctx.topo, 'mariadb').filter((s) => s.id !== ctx.svc.id);
  const t0 = Date.now();
  while (Date.now() - t0 < EVICTION_TIMEOUT_MS) {
    const views = await Promise.all(
      // 1 s: a live peer answers in milliseconds; a dead one must not hold up the restart.
      peers.map((p) => withRemoteAdmin(ctx.secrets, p, 1_000, (c) => statusVars(c, 'wsrep_%')).catch(() => undefined)),
    );
    const primaries = views.filter((v) => v?.['wsrep_cluster_status'] === 'Primary');
    const listing = primaries.some((v) => (v?.['wsrep_incoming_addresses'] ?? '').split(',').includes(me));
    const answered = views.filter((v) => v !== undefined).length;
    // Answered, and no Primary component lists this node (or none is Primary: nothing to be listed in).
    if (answered > 0 && !listing) break;
    if (answered === 0 && (await anyPeerRunning(ctx)) === undefined) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return Date.now() - t0;
}

async function chooseStartArgs(ctx: ServiceContext, paths: GaleraPaths): Promise<StartArgs> {
  const marker = readMarker(paths);
  if (marker) {
    // Consumed now: a later restart of this node (a crash after the bootstrap) must join.
    fs.rmSync(paths.bootstrapMarker, { force: true });
    const peer = await anyPeerRunning(ctx);
    if (peer === undefined) {
      const pos = marker.position !== undefined ? [`--wsrep-start-position=${marker.position}`] : [];
      return { args: ['--wsrep-new-cluster', ...pos], why: `bootstrap (${marker.reason})` };
    }
    // Never a second cluster beside a running one: join it instead.
  }
  const waited = await waitUntilEvicted(ctx);
  const g = readGrastate(paths);
  if (g && needsRecover(g) && !sstInterrupted(paths)) {
    try {
      const pos = await wsrepRecover(ctx);
      return {
        args: [`--wsrep-start-position=${pos.uuid}:${pos.seqno}`],
        why: `join from recovered position ${pos.uuid}:${pos.seqno} (IST if a donor's gcache has it; waited ${waited} ms for the old incarnation's eviction)`,
      };
    } catch (e) {
      return { args: [], why: `join with a full state transfer (position unreadable: ${describeError(e)})` };
    }
  }
  return { args: [], why: g ? `join from grastate ${g.uuid}:${g.seqno}` : 'join with a full state transfer (new node)' };
}

export const galeraDriver: ServiceDriver = {
  async prepare(ctx) {
    const { topo, svc } = ctx;
    const paths = galeraPaths(svc);
    checkSocketPath(paths.socket);
    fs.mkdirSync(paths.tmpDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(paths.sstLogDir, { recursive: true, mode: 0o700 });
    for (const f of fs.readdirSync(svc.dir)) {
      if (f.startsWith('data.installing-')) fs.rmSync(path.join(svc.dir, f), { recursive: true, force: true });
    }
    writeFileAtomic(
      paths.conf,
      renderGaleraCnf({
        id: svc.id,
        cluster: topo.cluster,
        nodeName: svc.node,
        asRoot: ctx.asRoot,
        paths,
        address: svc.address,
        port: svc.port,
        peers: servicesOf(topo, 'mariadb').map((s) => s.address),
        allowlist: galeraAllowlist(topo),
        bufferPoolMb: topo.config.database.bufferPoolMb,
        providerPath: galeraProviderPath(),
        sstPassword: ctx.secrets.dbRootPassword,
        // A joiner's method runs on its donor too: only where every node has this machine's
        // programs. On hosts each server has its own MariaDB, so the installed method.
        sstMethod: topo.config.substrate === 'hosts' ? 'mariabackup' : prepareFastSst(paths.sstBinDir),
        ...(databaseTlsOn(topo) ? { tls: requireNodeTls(topo, svc.node) } : {}),
        ...(topo.config.backup.binlogArchive ? { binlog: { position: serverIdOf(topo, svc.node) } } : {}),
      }),
    );
    if (!fs.existsSync(paths.dataDir)) await installDatadir(ctx, paths);
    const start = await chooseStartArgs(ctx, paths);
    appendLog(path.join(svc.dir, 'galera-starts.log'), `${new Date().toISOString()} ${start.why}: ${start.args.join(' ') || '(no extra arguments)'}\n`);
    writeFileAtomic(paths.startArgs, JSON.stringify(start) + '\n');
  },

  command(ctx): ProcessSpec {
    const paths = galeraPaths(ctx.svc);
    let extra: readonly string[] = [];
    try {
      extra = (JSON.parse(fs.readFileSync(paths.startArgs, 'utf8')) as StartArgs).args;
    } catch {
      // prepare always writes it; without it, a plain join is the safe start
    }
    // --defaults-file must be the first argument (ENGINE-NOTES).
    // mariadbd finds wsrep_sst_<method> on its PATH (after its own bin directory).
    const fastSst = fs.existsSync(path.join(paths.sstBinDir, `wsrep_sst_${FAST_SST_METHOD}`));
    const env = fastSst ? { env: { PATH: `${paths.sstBinDir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` } } : {};
    return { command: 'mariadbd', args: [`--defaults-file=${paths.conf}`, ...extra], cwd: ctx.svc.dir, ...env };
  },

  async probe(ctx, timeoutMs): Promise<ProbeResult> {
    try {
      const h = await readGaleraHealth(ctx, timeoutMs);
      return { healthy: h.healthy, role: 'galera', detail: h.detail };
    } catch (e) {
      return { healthy: false, role: 'galera', detail: describeError(e) };
    }
  },

  /**
   * Root password and the cluster's database and users, as in replication mode. Only the
   * bootstrap node changes anything: a joiner received the same accounts by state transfer, and
   * bootstrapPrimary writes only what is missing.
   */
  async afterHealthy(ctx) {
    await withAdmin(ctx, ADMIN_TIMEOUT_MS, (c) => secureLocalAccounts(c, ctx.secrets.dbRootPassword));
    const budget = 7 * (ctx.topo.config.database.semiSyncTimeoutMs + ADMIN_TIMEOUT_MS);
    await withAdmin(ctx, budget, (c) => bootstrapPrimary(c, ctx.topo, ctx.secrets));
  },

  logFiles(ctx) {
    const p = galeraPaths(ctx.svc);
    return [p.errorLog, p.installLog, path.join(ctx.svc.dir, 'galera-starts.log')];
  },
};
