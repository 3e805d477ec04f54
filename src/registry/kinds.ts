import { SERVICE_KINDS, type ServiceKind } from '../config/index.js';
import type { ServiceDescriptor } from './descriptor.js';

const galera = (c: { database: { mode: string } }): boolean => c.database.mode === 'galera';
/** `backup.targets` names a plain machine reached over SSH (src/failover/backup-ssh.ts). */
const sshBackupTarget = (c: { backup: { targets?: ReadonlyArray<string | object> } }): boolean => (c.backup.targets ?? []).some((t) => typeof t === 'object' && 'ssh' in t);

/**
 * The local endpoints' data path (src/endpoints/haproxy.ts says why HAProxy and not our own
 * splicer). Not required by doctor: only clusters with `endpoints.enabled` run it, and a host
 * carries an endpoint kind only then.
 */
const HAPROXY = { binary: 'haproxy', package: 'haproxy', purpose: 'local db/redis endpoints (endpoints.enabled)', versionArgs: ['-v'], required: false } as const;

/**
 * One descriptor per service kind: the one place that says what each kind needs and how it is
 * ordered. A kind missing here is a compile error (the Record), and so is a missing driver
 * (src/drivers). Start ranks leave gaps so a new kind slots in without renumbering.
 */
const DESCRIPTORS = {
  mariadb: {
    kind: 'mariadb',
    origin: 'engine',
    programs: [
      { binary: 'mariadbd', package: 'mariadb-server', purpose: 'database', versionArgs: ['--version'], required: true },
      // No --version: given one, mariadb-install-db goes looking at the default /var/lib/mysql.
      { binary: 'mariadb-install-db', package: 'mariadb-server', purpose: "creates a database node's datadir", required: true },
      { binary: 'mariadb', package: 'mariadb-client', purpose: 'operator shell into a database node', versionArgs: ['--version'], required: false },
      { binary: 'mariabackup', package: 'mariadb-backup', purpose: 'backups, replica rebuilds, Galera state transfer', versionArgs: ['--version'], required: true },
      {
        binary: 'libgalera_smm.so',
        package: 'galera-4',
        purpose: 'database.mode: galera',
        paths: ['/usr/lib/galera/libgalera_smm.so', '/usr/lib/libgalera_smm.so', '/usr/lib/x86_64-linux-gnu/galera/libgalera_smm.so'],
        required: false,
        onHostWhen: galera,
      },
      // wsrep_sst_mariabackup streams the backup between donor and joiner through socat.
      { binary: 'socat', package: 'socat', purpose: 'database.mode: galera (state transfer stream)', versionArgs: ['-V'], required: false, onHostWhen: galera },
      // Backups copy with rsync (to the backup target, over SSH when it is another machine), and so do replica rebuilds.
      { binary: 'rsync', package: 'rsync', purpose: 'backups: copy to the backup target (over SSH on hosts); crash plan file copies', versionArgs: ['--version'], required: true },
      // An SSH backup target: ssh and ssh-keygen (the backup key) on the machines that take backups.
      {
        binary: 'ssh',
        package: 'openssh-client',
        purpose: 'backups: an SSH backup target (backup.targets[].ssh)',
        versionArgs: ['-V'],
        required: false,
        onHostWhen: sshBackupTarget,
      },
    ],
    startRank: 10,
    start: {
      type: 'leader-first',
      leader: 'db-primary',
      leaderLabel: 'database primary',
      restLabel: 'database replicas',
      // One joiner at a time: each needs a state transfer from a donor, and a donor serves one.
      oneAtATime: { when: galera, label: (node: string) => `database node ${node} (joins)` },
    },
    // a database flushes its buffers and closes its binlog before exiting
    stopGraceMs: 30_000,
    // bounded at 30 min in mariadb-provision.ts, plus the engine's own start
    hostStartTimeoutMs: 35 * 60_000,
    restartOn: ['database'],
    chaosRoles: [{ name: 'db-primary', role: 'primary' }, { name: 'db-replica', role: 'replica' }, { name: 'db' }],
    // The primary creates the app's and the replication accounts (bootstrapPrimary); replicas
    // replicate with dbReplPassword; root/admin is the node's own administration; the primary
    // also makes the load balancers' account (lbDbPassword, src/lb/acme).
    secrets: ['dbRootPassword', 'dbAppPassword', 'dbReplPassword', 'lbDbPassword'],
  },
  redis: {
    kind: 'redis',
    origin: 'engine',
    programs: [{ binary: 'redis-server', package: 'redis-server', purpose: 'broker (Redis)', versionArgs: ['--version'], required: true }],
    startRank: 20,
    start: { type: 'leader-first', leader: 'redis-master', leaderLabel: 'redis master', restLabel: 'redis replicas' },
    stopGraceMs: 10_000,
    restartOn: ['redis'],
    chaosRoles: [
      { name: 'redis-master', role: 'master' },
      { name: 'redis-replica', role: 'replica' },
    ],
    secrets: ['redisPassword'],
  },
  sentinel: {
    kind: 'sentinel',
    origin: 'engine',
    // A separate Debian package from redis-server (a symlink to the same program once installed).
    programs: [{ binary: 'redis-sentinel', package: 'redis-sentinel', purpose: 'broker failover (Sentinel)', versionArgs: ['--version'], required: true }],
    startRank: 30,
    start: { type: 'together', label: 'sentinels' },
    // the app's clients ask the Sentinels for the master: wait until they agree on one
    stepAfter: 'sentinels-ready',
    stopGraceMs: 10_000,
    restartOn: ['redis'],
    chaosRoles: [{ name: 'sentinel' }],
    // auth-pass towards the Redis servers, requirepass/sentinel-pass among the Sentinels.
    secrets: ['redisPassword', 'sentinelPassword'],
  },
  // The decision quorum (issue 23): first, so the controllers' election and the primary's lease
  // have a store before the database they watch starts.
  etcd: {
    kind: 'etcd',
    origin: 'engine',
    programs: [
      { binary: 'etcd', package: 'etcd-server', purpose: 'decision quorum of the automatic failover (etcd)', versionArgs: ['--version'], required: true },
      { binary: 'etcdctl', package: 'etcd-client', purpose: 'operator shell into the decision quorum', versionArgs: ['version'], required: false },
    ],
    startRank: 5,
    // Members elect a leader only once a majority runs: started together, then waited on.
    start: { type: 'together', label: 'etcd quorum' },
    // it syncs its WAL on every commit: a short grace suffices
    stopGraceMs: 10_000,
    restartOn: [],
    chaosRoles: [{ name: 'etcd' }],
    secrets: ['etcdRootPassword'],
  },
  memcached: {
    kind: 'memcached',
    origin: 'engine',
    programs: [{ binary: 'memcached', package: 'memcached', purpose: 'cache', versionArgs: ['-V'], required: true }],
    startRank: 40,
    start: { type: 'together', label: 'memcached' },
    stopGraceMs: 10_000,
    restartOn: ['memcached'],
    chaosRoles: [{ name: 'memcached' }],
    secrets: [],
  },
  // The local endpoints (src/endpoints): after every engine and the Sentinels (they follow the
  // writer and the master those elect), before the migrations and the app that connect through them.
  'db-endpoint': {
    kind: 'db-endpoint',
    origin: 'ours',
    programs: [HAPROXY],
    startRank: 45,
    start: { type: 'together', label: 'database endpoints' },
    // it closes its listener and every spliced connection at once; nothing of its own to flush
    stopGraceMs: 5_000,
    restartOn: ['endpoints', 'database'],
    chaosRoles: [{ name: 'db-endpoint' }],
    // Only its probes log in (as the app's account, which sees read_only and SHOW SLAVE STATUS);
    // the spliced clients authenticate to MariaDB themselves.
    secrets: ['dbAppPassword'],
  },
  'db-read-endpoint': {
    kind: 'db-read-endpoint',
    origin: 'ours',
    programs: [HAPROXY],
    startRank: 46,
    start: { type: 'together', label: 'database read endpoints' },
    stopGraceMs: 5_000,
    restartOn: ['endpoints', 'database'],
    chaosRoles: [{ name: 'db-read-endpoint' }],
    secrets: ['dbAppPassword'],
  },
  'redis-endpoint': {
    kind: 'redis-endpoint',
    origin: 'ours',
    programs: [HAPROXY],
    startRank: 47,
    start: { type: 'together', label: 'redis endpoints' },
    stopGraceMs: 5_000,
    restartOn: ['endpoints', 'redis'],
    chaosRoles: [{ name: 'redis-endpoint' }],
    // ROLE on the Redis servers and +switch-master from the Sentinels; clients AUTH themselves.
    secrets: ['redisPassword', 'sentinelPassword'],
  },
  app: {
    kind: 'app',
    origin: 'ours',
    programs: [],
    startRank: 50,
    start: { type: 'together', label: 'app servers' },
    // the schema is the app's: migrations run once, before any app server serves
    stepBefore: 'migrate',
    // app servers drain in-flight requests (bounded at 10 s by the host) before exiting
    stopGraceMs: 15_000,
    // The app and its workers talk to every tier through the HA clients.
    restartOn: ['app', 'database', 'redis', 'memcached', 'serviceName'],
    chaosRoles: [{ name: 'app' }],
    // The HA clients: the database as the app's account, Redis through the Sentinels.
    // sessionKey: the HMAC key of the session ids the app tier keeps in Redis.
    secrets: ['dbAppPassword', 'redisPassword', 'sentinelPassword', 'sessionKey'],
  },
  worker: {
    kind: 'worker',
    origin: 'ours',
    programs: [],
    startRank: 60,
    start: { type: 'together', label: 'workers' },
    // a worker finishes (or hands back) the job it holds
    stopGraceMs: 15_000,
    // `worker`: worker.command and worker.env (a command app's worker).
    restartOn: ['app', 'worker', 'database', 'redis', 'memcached', 'serviceName'],
    chaosRoles: [{ name: 'worker' }],
    secrets: ['dbAppPassword', 'redisPassword', 'sentinelPassword', 'sessionKey'],
  },
  lb: {
    kind: 'lb',
    origin: 'ours',
    programs: [
      // Only `substrate: hosts` with `lb.vip`: VRRP moves the floating address between load balancers.
      {
        binary: 'keepalived',
        package: 'keepalived',
        purpose: 'lb.vip on real hosts (floating address)',
        versionArgs: ['--version'],
        required: false,
        onHostWhen: (c) => c.lb.vip !== undefined,
        checkPackage: true,
      },
    ],
    startRank: 70,
    start: { type: 'together', label: 'load balancers' },
    stopGraceMs: 10_000,
    // database: with lb.tls.acme the load balancers keep the ACME state in the database.
    restartOn: ['lb', 'serviceName', 'database'],
    chaosRoles: [{ name: 'lb' }],
    // keepalived's VRRP authentication beside the load balancer (with lb.vip on hosts).
    // tlsTicketSecret: the session-ticket keys every load balancer derives alike (lb.tls).
    // lbDbPassword, lbStoreKey: the LBs' database account and the key of the sealed ACME private key (lb.tls.acme).
    secrets: ['vrrpPassword', 'tlsTicketSecret', 'lbDbPassword', 'lbStoreKey'],
  },
  dns: {
    kind: 'dns',
    origin: 'ours',
    programs: [],
    startRank: 80,
    start: { type: 'together', label: 'dns' },
    stopGraceMs: 10_000,
    restartOn: ['dns', 'lb', 'serviceName'],
    chaosRoles: [{ name: 'dns' }],
    secrets: [],
  },
} as const satisfies { readonly [K in ServiceKind]: ServiceDescriptor & { readonly kind: K } };

/** Every kind's descriptor, by kind. */
export const SERVICES: Readonly<Record<ServiceKind, ServiceDescriptor>> = DESCRIPTORS;

/** The kinds that are hastack's own Node processes (`hastack _service KIND`). */
export type OwnKind = { [K in ServiceKind]: (typeof DESCRIPTORS)[K]['origin'] extends 'ours' ? K : never }[ServiceKind];
/** The kinds that are Debian programs hastack configures and runs. */
export type EngineKind = Exclude<ServiceKind, OwnKind>;

export function descriptorOf(kind: ServiceKind): ServiceDescriptor {
  return SERVICES[kind];
}

export function isOwnKind(kind: string): kind is OwnKind {
  return (SERVICE_KINDS as readonly string[]).includes(kind) && SERVICES[kind as ServiceKind].origin === 'ours';
}

export function isEngineKind(kind: ServiceKind): kind is EngineKind {
  return SERVICES[kind].origin === 'engine';
}

/** Every kind, in `up`'s order. */
export function kindsInStartOrder(): ServiceKind[] {
  return [...SERVICE_KINDS].sort((a, b) => SERVICES[a].startRank - SERVICES[b].startRank);
}
