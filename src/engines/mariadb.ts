import fs from 'node:fs';
import path from 'node:path';
import type { Secrets, ServiceInstance, Topology } from '../config/index.js';
import { servicesOf } from '../config/index.js';
import { EngineStartError, ErrorCode, HastackError, StateCorruptError, describeError } from '../shared/errors.js';
import { waitFor } from '../shared/retry.js';
import { tailFile } from '../shared/files.js';
import { appendLog } from '../shared/logfile.js';
import { checkSocketPath, hostPort, runToCompletion, writeFileAtomic } from './common.js';
import { databaseTlsOn, requireNodeTls } from './tls.js';
import type { ProbeResult, ProcessSpec, ServiceContext, ServiceDriver } from '../registry/index.js';
import { SEED_CNF, copyLiveDatadir } from './mariadb-provision.js';
import { chooseSeedSource, isEmptyGtidList, shouldSeedFromBackup, type PrimaryBinlogFacts, type SeedCandidate } from './mariadb-seed.js';
import { bootstrapPrimary, secureLocalAccounts } from './mariadb-accounts.js';
import { ADMIN_TIMEOUT_MS, DB_USERS, isServerError, rows, run, withAdmin, withRemoteAdmin } from './mariadb-admin.js';
import { logInstallStep, mariadbPaths, renderMyCnf, serverIdOf, type DbRole, type MariadbPaths } from './mariadb-config.js';
import {
  type DbReplicationStatus,
  type SemiSyncStatus,
  dbRoleOf,
  describeReplication,
  replicationStatus,
  semiSyncOn,
  semiSyncStatus,
  setReplicaFromSeed,
  setReplicaOf,
  slaveStatusOn,
  switchReplicaToTls,
} from './mariadb-replication.js';
import { DB_STATE_FIX, readDbState, readDbStateStrict, semiSyncAtBoot, writeDbState, type DbNodeState } from './mariadb-state.js';

/*
 * MariaDB in `replication` mode: one writable primary, read-only replicas, GTID, semi-sync
 * AFTER_SYNC. Which node is primary is not the topology's business after the first start: each
 * node keeps its role in `<svc.dir>/hastack-db.json`, and my.cnf (rendered on every start) follows
 * that file. So a restarted node comes back in the role it last had, and whoever changes roles (the
 * failover manager, `setReplicaOf`) records the change with `recordDbRole`.
 */

// The facade: what the rest of hastack imports from the MariaDB engine, cut by job into
// mariadb-config (files), mariadb-state (recorded role), mariadb-admin (connections),
// mariadb-replication (reads and wiring), mariadb-accounts; this file keeps start-up and the driver.
export {
  mariadbPaths,
  serverIdOf,
  serverBaseLines,
  serverTlsLines,
  memoryLines,
  renderMyCnf,
  logInstallStep,
  type MariadbPaths,
  type MyCnfParams,
  type DbRole,
} from './mariadb-config.js';
export { type DbNodeState, readDbStateStrict, readDbState, recordDbRole, semiSyncAtBoot, writeDbState } from './mariadb-state.js';
export {
  ADMIN_TIMEOUT_MS,
  DB_USERS,
  closeConnection,
  adminConnection,
  mariadbReach,
  withAdmin,
  remoteAdminOptions,
  withRemoteAdmin,
  localOnly,
  rows,
  statusVars,
} from './mariadb-admin.js';
export {
  type GtidPosition,
  readGtidPosition,
  readReadOnly,
  type ThreadState,
  type DbReplicationStatus,
  parseSlaveStatus,
  describeReplication,
  dbRoleOf,
  replicationStatus,
  type SemiSyncStatus,
  semiSyncStatus,
  setReplicaOf,
  closeToApp,
  openToApp,
} from './mariadb-replication.js';
export { isAddressHost, secureLocalAccounts, adminHosts, adminAccountHosts, bootstrapPrimary } from './mariadb-accounts.js';

// Probing the other nodes when deciding a new node's role: a live server answers in ms on loopback.
const PEER_TIMEOUT_MS = 1500;

interface PeerView {
  readonly svc: ServiceInstance;
  readonly role: DbRole;
  /** IO and SQL threads both running. */
  readonly replicating: boolean;
}

/** The other mariadb services that answer (over TCP as hastack_admin), with their roles. */
async function peerViews(ctx: ServiceContext): Promise<PeerView[]> {
  const peers = servicesOf(ctx.topo, 'mariadb').filter((s) => s.id !== ctx.svc.id);
  const answers = await Promise.all(
    peers.map((s) =>
      withRemoteAdmin(ctx.secrets, s, PEER_TIMEOUT_MS, async (c): Promise<PeerView> => {
        const [r] = await rows(c, 'SELECT @@read_only AS ro');
        const slave = await slaveStatusOn(c);
        return { svc: s, role: dbRoleOf(Number(r?.['ro']) === 1, slave), replicating: slave.ioThread === 'running' && slave.sqlThread === 'running' };
      }).catch(() => undefined),
    ),
  );
  return answers.filter((v): v is PeerView => v !== undefined);
}

/** The other mariadb services that answer as writable primaries. */
async function writablePeers(ctx: ServiceContext): Promise<ServiceInstance[]> {
  return (await peerViews(ctx)).filter((v) => v.role === 'primary').map((v) => v.svc);
}

/** The single writable primary a replica attaches to, or an error saying what to do. */
async function theWritablePrimary(ctx: ServiceContext): Promise<ServiceInstance> {
  const primaries = await writablePeers(ctx);
  if (primaries.length !== 1) {
    const names = primaries.map((p) => p.id).join(', ');
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      primaries.length === 0
        ? `${ctx.svc.id} is a replica but no writable primary answers among the other mariadb nodes; start the primary first (its afterHealthy creates the ${DB_USERS.admin} account this needs)`
        : `${ctx.svc.id} found several writable primaries (${names}); fence all but one (read_only=1) before starting replicas`,
    );
  }
  return primaries[0] as ServiceInstance;
}

/**
 * The role of a node that has no state file yet (its first start): the topology's initial primary,
 * unless another node already answers as a writable primary (a node re-created after a failover
 * must not come up as a second primary).
 */
async function initialRole(ctx: ServiceContext): Promise<DbRole> {
  if (ctx.svc.node !== ctx.topo.initialDbPrimary) return 'replica';
  if ((await writablePeers(ctx)).length > 0) return 'replica';
  // Primary only with proof that no other node is or was one: a peer that has run before (its
  // state file is on this machine) but does not answer as primary may be the primary, down or
  // behind a partition. Then this node's missing state is for a human, not a default.
  const ran = servicesOf(ctx.topo, 'mariadb').filter((s) => s.id !== ctx.svc.id && fs.existsSync(mariadbPaths(s).stateFile));
  if (ran.length > 0) {
    throw new StateCorruptError(
      mariadbPaths(ctx.svc).stateFile,
      `missing, while ${ran.map((s) => s.id).join(', ')} ran before and none answers as a writable primary`,
      DB_STATE_FIX,
    );
  }
  return 'primary';
}

/**
 * A primary that starts again while another node answers as the writable primary was failed over
 * while it was away: its machine was powered off or cut off (failover.fence), so the crash plan
 * could not record its new role on it. It comes back as a replica, read-only (the routers and
 * endpoints write only to a node with read_only=0), and says so in its install log. A peer that
 * does not answer proves nothing: the node then starts as recorded (a whole cluster starting).
 */
async function supersededPrimary(ctx: ServiceContext, state: DbNodeState): Promise<DbNodeState> {
  const others = await writablePeers(ctx);
  if (others.length === 0) return state;
  const next: DbNodeState = { ...state, role: 'replica' };
  writeDbState(ctx.svc, next);
  logInstallStep(
    mariadbPaths(ctx.svc),
    `recorded primary, but ${others.map((o) => o.id).join(', ')} answers as the writable primary (a failover while this machine was away): starting read-only as a replica; rebuild it before it rejoins`,
  );
  return next;
}

// A replica on loopback connects and catches up with a bootstrap-sized binlog in about a second;
// 30 s bounds catching up on a larger backlog without hanging `up`.
const REPLICA_START_TIMEOUT_MS = 30_000;
// The semi-sync handshake happens when the IO thread connects: seen within a few hundred ms.
const SEMI_SYNC_TIMEOUT_MS = 5000;

function replicationErrorHint(errnoValue: number): string {
  // 1236: the primary's binlog lacks what the replica asks for (purged, or the replica diverged).
  if (errnoValue === 1236) {
    return (
      'the primary no longer has the transactions this replica needs, or this node has transactions the primary lacks; rebuild it: ' +
      "stop it, move its datadir aside and start it again (with the primary's binlogs purged it is then provisioned from a mariabackup of a live node)"
    );
  }
  if (errnoValue === 1045) return 'the replication user was refused; check that the primary was wired (its afterHealthy ran) with the same secrets.json';
  return 'read the error above and the mariadb.err of both nodes';
}

async function waitReplicaRunning(ctx: ServiceContext): Promise<DbReplicationStatus> {
  let last: DbReplicationStatus | undefined;
  const ok = await waitFor(
    async () => {
      const s = await replicationStatus(ctx);
      last = s;
      if (s.ioThread === 'running' && s.sqlThread === 'running') return s;
      // A stopped thread with an error will not recover by waiting.
      if (s.ioThread === 'stopped' && s.lastIoErrno !== 0) return s;
      if (s.sqlThread === 'stopped' && s.lastSqlErrno !== 0) return s;
      return undefined;
    },
    // 200 ms: the IO thread connects within a few hundred ms on loopback.
    { timeoutMs: REPLICA_START_TIMEOUT_MS, intervalMs: 200 },
  );
  const s = ok ?? last;
  if (!s || s.ioThread !== 'running' || s.sqlThread !== 'running') {
    const err = s?.lastSqlErrno ? s.lastSqlErrno : (s?.lastIoErrno ?? 0);
    throw new HastackError(ErrorCode.SETUP_FAILED, `${ctx.svc.id} does not replicate: ${s ? describeReplication(s, '') : 'no status'}; ${replicationErrorHint(err)}`, {
      details: { node: ctx.svc.node },
    });
  }
  return s;
}

function primaryServiceAt(topo: Topology, host: string, port: number): ServiceInstance | undefined {
  return servicesOf(topo, 'mariadb').find((s) => s.address === host && s.port === port);
}

/**
 * Turns semi-sync on at the primary once this replica is attached, and checks that it took:
 * enabled before a replica is attached, the primary stalls then silently falls back (ENGINE-NOTES).
 */
async function enableSemiSync(ctx: ServiceContext, primary: ServiceInstance): Promise<SemiSyncStatus> {
  await withRemoteAdmin(ctx.secrets, primary, ADMIN_TIMEOUT_MS, (c) => run(c, 'SET GLOBAL rpl_semi_sync_master_enabled=1'));
  const check = async (): Promise<SemiSyncStatus | undefined> => {
    const m = await withRemoteAdmin(ctx.secrets, primary, ADMIN_TIMEOUT_MS, semiSyncOn);
    const mine = await semiSyncStatus(ctx);
    return m.active && m.clients >= 1 && mine.replicaActive ? m : undefined;
  };
  // 100 ms polls: the handshake is immediate when the IO thread is already connected.
  let ok = await waitFor(check, { timeoutMs: SEMI_SYNC_TIMEOUT_MS / 2, intervalMs: 100 });
  if (!ok) {
    // The replica only asks for semi-sync when its IO thread connects: reconnect it once.
    await withAdmin(ctx, ADMIN_TIMEOUT_MS, async (c) => {
      await run(c, 'STOP SLAVE IO_THREAD');
      await run(c, 'START SLAVE IO_THREAD');
    });
    ok = await waitFor(check, { timeoutMs: SEMI_SYNC_TIMEOUT_MS, intervalMs: 100 });
  }
  if (!ok) {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `semi-sync did not turn on between primary ${primary.id} and replica ${ctx.svc.id}: commits would be acknowledged with no copy on a replica; ` +
        `check rpl_semi_sync_* in both my.cnf files and their mariadb.err, or set database.semiSync: false to run asynchronously`,
    );
  }
  return ok;
}

/** True when the server at `svc` answers at all (a MySQL error is an answer; a refused connection is not). */
async function serverAnswers(secrets: Secrets, svc: ServiceInstance): Promise<boolean> {
  try {
    await withRemoteAdmin(secrets, svc, PEER_TIMEOUT_MS, (c) => run(c, 'SELECT 1'));
    return true;
  } catch (e) {
    return isServerError(e);
  }
}

/**
 * Wires a replica: points it at the writable primary if it replicates from nobody, waits until both
 * threads run, then turns semi-sync on at the primary. A replica already configured for a primary
 * that is not running (a later `up` after a failover, where the topology's initial primary, now a
 * replica, starts first) is left to reconnect by itself (MASTER_CONNECT_RETRY=1): the primary turns
 * semi-sync on at its own boot, and waiting here would block `up` before the primary starts.
 */
async function attachReplica(ctx: ServiceContext): Promise<void> {
  let status = await replicationStatus(ctx);
  const seedGtid = readDbState(ctx.svc)?.seedGtid;
  if (seedGtid !== undefined) {
    await setReplicaFromSeed(ctx, await theWritablePrimary(ctx), seedGtid);
  } else if (!status.configured) {
    await setReplicaOf(ctx, await theWritablePrimary(ctx));
  } else {
    const configured = primaryServiceAt(ctx.topo, status.masterHost, status.masterPort);
    if (!configured) {
      throw new HastackError(
        ErrorCode.SETUP_FAILED,
        `${ctx.svc.id} replicates from ${hostPort(status.masterHost, status.masterPort)}, which is no mariadb service of this cluster; point it at one with setReplicaOf`,
      );
    }
    if (!(await serverAnswers(ctx.secrets, configured))) return;
    if (databaseTlsOn(ctx.topo) && !status.ssl) {
      await switchReplicaToTls(ctx);
    } else if (status.ioThread === 'stopped' && status.sqlThread === 'stopped' && status.lastIoErrno === 0 && status.lastSqlErrno === 0) {
      // Configured but stopped without an error (someone ran STOP SLAVE): resume.
      await withAdmin(ctx, ADMIN_TIMEOUT_MS, (c) => run(c, 'START SLAVE'));
    }
  }
  status = await waitReplicaRunning(ctx);
  if (!ctx.topo.config.database.semiSync) return;
  const primary = primaryServiceAt(ctx.topo, status.masterHost, status.masterPort);
  if (primary) await enableSemiSync(ctx, primary);
}

/**
 * The mariadb services in the order `up` should start them: the node whose state file records
 * it as primary first (after a failover that is no longer the topology's initial primary), then
 * the others in topology order. Reads the state files, so it is meant for the local substrate.
 */
export function mariadbStartOrder(topo: Topology): ServiceInstance[] {
  const all = servicesOf(topo, 'mariadb');
  const recorded = all.filter((s) => readDbState(s)?.role === 'primary');
  const first = recorded.length === 1 ? recorded[0] : all.find((s) => s.node === topo.initialDbPrimary);
  return first ? [first, ...all.filter((s) => s !== first)] : all;
}

// ---------------------------------------------------------------------------------------------
// The driver

// mariadb-install-db takes under a second here; 120 s bounds a pathological disk, not a normal one.
const INSTALL_TIMEOUT_MS = 120_000;

export async function installDatadir(ctx: ServiceContext, paths: MariadbPaths): Promise<void> {
  // Installed beside and renamed into place: an interrupted install leaves `data.installing-*`
  // (removed on the next prepare), never a half-made datadir that a later start would trust.
  const tmp = `${paths.dataDir}.installing-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  // --defaults-file must come first (ENGINE-NOTES); --datadir after it overrides the file's.
  const args = [
    `--defaults-file=${paths.conf}`,
    `--datadir=${tmp}`,
    // Root gets a password-less login until afterHealthy sets the cluster's root password: the
    // `socket` method would tie root to the OS user, which differs between root and non-root runs.
    // (A password cannot be set at install: the bootstrap runs with grant tables off.)
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    ...(ctx.asRoot ? ['--user=root'] : []),
  ];
  appendLog(paths.installLog, `--- ${new Date().toISOString()} mariadb-install-db ${args.join(' ')}\n`);
  const code = await runToCompletion('mariadb-install-db', args, { logFile: paths.installLog, timeoutMs: INSTALL_TIMEOUT_MS });
  if (code !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // The installer prints generic advice; the reason is in the server's error log.
    const tail = `${tailFile(paths.installLog, 8)}\n--- ${paths.errorLog}:\n${tailFile(paths.errorLog, 12) || '(empty)'}`;
    throw new EngineStartError(`mariadb-install-db for ${ctx.svc.id}`, `exit code ${code}`, tail, paths.installLog);
  }
  fs.renameSync(tmp, paths.dataDir);
}

/** One line in the service's install log: the driver has no event log, and this is the file `up` shows on failure. */
interface SeedPlan {
  readonly source: ServiceInstance;
  readonly primary: ServiceInstance;
  readonly facts: PrimaryBinlogFacts;
}

/** What the primary's binlogs still hold (see `shouldSeedFromBackup`). */
async function primaryBinlogFacts(ctx: ServiceContext, primary: ServiceInstance): Promise<PrimaryBinlogFacts> {
  return withRemoteAdmin(ctx.secrets, primary, ADMIN_TIMEOUT_MS, async (c) => {
    const logs = await rows(c, 'SHOW BINARY LOGS');
    const binlogBytes = logs.reduce((n, r) => n + Number(r['File_size'] ?? 0), 0);
    const first = logs[0]?.['Log_name'];
    if (first === undefined) return { historyComplete: false, binlogBytes };
    // Every binlog starts with a Gtid_list event naming what earlier (now possibly purged) files
    // held: empty in the oldest file means nothing before it ever existed.
    const events = await rows(c, 'SHOW BINLOG EVENTS IN ? LIMIT 4', [String(first)]);
    const list = events.find((e) => e['Event_type'] === 'Gtid_list');
    return { historyComplete: list !== undefined && isEmptyGtidList(String(list['Info'] ?? '')), binlogBytes };
  });
}

/**
 * Whether this new replica is seeded from a backup, and of which node. Undefined (install a fresh
 * datadir) when no single writable primary answers, which is the very first `up`, or when the
 * primary's binlogs can replay everything quickly (see `shouldSeedFromBackup`).
 */
async function planSeed(ctx: ServiceContext): Promise<SeedPlan | undefined> {
  const views = await peerViews(ctx);
  const primaries = views.filter((v) => v.role === 'primary');
  // Several writable primaries: attachReplica refuses later with what to do.
  if (primaries.length !== 1) return undefined;
  const primary = (primaries[0] as PeerView).svc;
  const facts = await primaryBinlogFacts(ctx, primary);
  if (!shouldSeedFromBackup(facts)) return undefined;
  const cands: SeedCandidate[] = views.map((v) => ({ id: v.svc.id, role: v.role, replicating: v.replicating, localDatadir: fs.existsSync(mariadbPaths(v.svc).dataDir) }));
  const chosen = chooseSeedSource(cands);
  const source = views.find((v) => v.svc.id === chosen?.id)?.svc;
  if (!source) {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `${ctx.svc.id} must be provisioned from a backup (primary ${primary.id}: ${facts.historyComplete ? 'binlogs too long to replay' : 'older binlogs purged'}) ` +
        `but no live mariadb node has its datadir on this machine; restore a prepared mariabackup into ${mariadbPaths(ctx.svc).dataDir} and start it again`,
    );
  }
  return { source, primary, facts };
}

/**
 * Provisions this node's datadir from a mariabackup of a live node: backup (the source's datadir
 * is read directly, so it must be on this machine), prepare, record the backup's GTID as the seed
 * (afterHealthy turns it into gtid_slave_pos), then the rename that makes it the datadir. Users and
 * grants come with the mysql schema in the copy. Interrupted, it leaves `data.provisioning-*`,
 * which the next prepare removes before starting over.
 */
async function provisionFromBackup(ctx: ServiceContext, paths: MariadbPaths, plan: SeedPlan): Promise<void> {
  const t0 = Date.now();
  const tmp = `${paths.dataDir}.provisioning-${process.pid}`;
  const { source } = plan;
  logInstallStep(
    paths,
    `seed: no datadir and primary ${plan.primary.id} ${plan.facts.historyComplete ? `has ${plan.facts.binlogBytes} bytes of binlog to replay` : 'purged older binlogs'}: ` +
      `provisioning from a mariabackup of ${source.id}`,
  );
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    const gtid = await copyLiveDatadir({
      source: { id: source.id, address: source.address, port: source.port, conf: mariadbPaths(source).conf },
      user: DB_USERS.admin,
      password: ctx.secrets.dbRootPassword,
      targetDir: tmp,
      workDir: ctx.svc.dir,
      logFile: paths.installLog,
      log: (line) => logInstallStep(paths, line),
      forWhom: ctx.svc.id,
    });
    // Recorded before the rename: a crash in between leaves no datadir, and the next prepare starts over.
    writeDbState(ctx.svc, { role: 'replica', wired: false, seedGtid: gtid });
    fs.renameSync(tmp, paths.dataDir);
    logInstallStep(paths, `seed: datadir in place from ${source.id} at gtid ${gtid} in ${Date.now() - t0} ms`);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    logInstallStep(paths, `seed: failed: ${describeError(e)}`);
    throw e;
  }
}

export const mariadbDriver: ServiceDriver = {
  async prepare(ctx) {
    const { topo, svc } = ctx;
    const paths = mariadbPaths(svc);
    checkSocketPath(paths.socket);
    fs.mkdirSync(paths.tmpDir, { recursive: true, mode: 0o700 });
    for (const f of fs.readdirSync(svc.dir)) {
      if (f.startsWith('data.installing-') || f.startsWith('data.provisioning-') || f === SEED_CNF) fs.rmSync(path.join(svc.dir, f), { recursive: true, force: true });
    }
    let state = readDbStateStrict(svc);
    if (!state) {
      // No state but a datadir: the node ran before and lost its record; its role is unknown.
      if (fs.existsSync(paths.dataDir)) throw new StateCorruptError(paths.stateFile, 'missing, while the node has a datadir', DB_STATE_FIX);
      state = { role: await initialRole(ctx), wired: false };
      writeDbState(svc, state);
    } else if (state.role === 'primary' && state.wired) {
      state = await supersededPrimary(ctx, state);
    }
    const db = topo.config.database;
    writeFileAtomic(
      paths.conf,
      renderMyCnf({
        id: svc.id,
        asRoot: ctx.asRoot,
        paths,
        address: svc.address,
        port: svc.port,
        serverId: serverIdOf(topo, svc.node),
        bufferPoolMb: db.bufferPoolMb,
        role: state.role,
        semiSync: db.semiSync,
        semiSyncMasterAtBoot: semiSyncAtBoot(topo, state),
        semiSyncTimeoutMs: db.semiSyncTimeoutMs,
        ...(databaseTlsOn(topo) ? { tls: requireNodeTls(topo, svc.node) } : {}),
      }),
      // Readable by the server when it runs as another user than hastack (no secrets in it).
      0o644,
    );
    if (!fs.existsSync(paths.dataDir)) {
      // Only a replica is seeded: a node that is to be primary has no one to copy from.
      const seed = state.role === 'replica' ? await planSeed(ctx) : undefined;
      if (seed) {
        await provisionFromBackup(ctx, paths, seed);
      } else {
        // A seed recorded for a datadir that is gone no longer applies to the fresh one.
        if (state.seedGtid !== undefined) writeDbState(svc, { role: state.role, wired: state.wired });
        await installDatadir(ctx, paths);
      }
    }
  },

  command(ctx): ProcessSpec {
    // --defaults-file must be the first argument, or mariadbd ignores it (ENGINE-NOTES).
    return { command: 'mariadbd', args: [`--defaults-file=${mariadbPaths(ctx.svc).conf}`], cwd: ctx.svc.dir };
  },

  /**
   * Healthy = the server answers queries over its socket. A replica whose primary is gone, or whose
   * replication stopped on an error, is still healthy (the detail says what is wrong): restarting
   * it would not fix replication, and it is the candidate the failover manager needs alive.
   */
  async probe(ctx, timeoutMs): Promise<ProbeResult> {
    try {
      return await withAdmin(ctx, timeoutMs, async (c) => {
        const [v] = await rows(c, 'SELECT @@read_only AS ro, @@gtid_current_pos AS pos');
        const readOnly = Number(v?.['ro']) === 1;
        const pos = String(v?.['pos'] ?? '');
        const slave = await slaveStatusOn(c);
        if (dbRoleOf(readOnly, slave) === 'primary') {
          const ss = await semiSyncOn(c);
          const semi = ss.enabled ? `semi-sync ${ss.active ? 'on' : 'FALLEN BACK to async'}, ${ss.clients} semi-sync replica(s)` : 'semi-sync off';
          return { healthy: true, role: 'primary', detail: `writable, gtid ${pos || 'empty'}, ${semi}` };
        }
        const detail = describeReplication(slave, pos) + (readOnly ? '' : ' (WRITABLE although it replicates: set read_only=1)');
        return { healthy: true, role: 'replica', detail };
      });
    } catch (e) {
      return { healthy: false, role: 'mariadb', detail: describeError(e) };
    }
  },

  async afterHealthy(ctx) {
    const state = readDbState(ctx.svc) ?? { role: await initialRole(ctx), wired: false };
    await withAdmin(ctx, ADMIN_TIMEOUT_MS, (c) => secureLocalAccounts(c, ctx.secrets.dbRootPassword));
    if (state.role === 'primary') {
      // Up to 7 writes, each of which may wait the semi-sync timeout (see bootstrapPrimary).
      const budget = 7 * (ctx.topo.config.database.semiSyncTimeoutMs + ADMIN_TIMEOUT_MS);
      await withAdmin(ctx, budget, (c) => bootstrapPrimary(c, ctx.topo, ctx.secrets));
    } else {
      await attachReplica(ctx);
    }
    writeDbState(ctx.svc, { role: readDbState(ctx.svc)?.role ?? state.role, wired: true });
  },

  logFiles(ctx) {
    const p = mariadbPaths(ctx.svc);
    return [p.errorLog, p.installLog];
  },
};
