/**
 * The one table of what every test and bench occupies on the machine: its cluster names, its
 * loopback addresses (127.x), the supervisor's admin port, and the private /24s its network
 * namespaces or host bed take (10.213.x). Two lanes of tests run at once and helpers add tests
 * every session: `addresses.unit.test.ts` fails on any overlap between two rows, on a test file
 * with no row, and on an address literal in a file outside its own row.
 *
 * A new test starts by adding one row here (test/README.md says how) and takes
 * its addresses from it: `testRange('my-test')`, never literals of its own.
 */

/** Some addresses of one loopback /24: node addresses `.first`-`.last`, and/or the admin API at `.254`. */
export interface Span {
  /** The first three octets, like `127.0.50`. */
  readonly base: string;
  /** Node addresses `.first` to `.last` (inclusive), every port. Absent: no node address here. */
  readonly first?: number;
  readonly last?: number;
  /** The supervisor's admin API on `<base>.254:<admin>`. */
  readonly admin?: number;
}

export interface TestRow {
  /**
   * The file, from the repository root (its lane is in its name: see test/README.md), or for a
   * reservation what it is kept for.
   */
  readonly file: string;
  /**
   * Cluster names (the state directory `.hastack/<name>`, the netns names are hashed from it).
   * `name*` reserves every name starting with `name`.
   */
  readonly clusters: readonly string[];
  readonly loopback: readonly Span[];
  /** Private /24s (three octets, `10.213.66`), whole: a netns bridge or a host bed takes every address. */
  readonly private: readonly string[];
  /** A reservation: a whole range kept for another piece of work; rows `within` it may use it. */
  readonly reserved?: true;
  /**
   * The reservation this row lives inside: its addresses and names must fall in it. Such a row
   * may come before its file (another branch brings it).
   */
  readonly within?: string;
  /** Fixed ports the test listens on inside its own addresses besides the engines' usual ones (documentation). */
  readonly ports?: readonly number[];
}

/** A whole loopback /24 and the private /24 of the same number, for a reservation. */
function reserve(what: string, n: number, prefix: string | undefined): TestRow {
  return { file: what, clusters: prefix === undefined ? [] : [`${prefix}*`], loopback: [{ base: `127.0.${n}`, first: 1, last: 254 }], private: [`10.213.${n}`], reserved: true };
}

/**
 * Keyed by a short id (the file's name without lane and `.test.ts`; `bench-NAME` for benches).
 * Grouped by folder, sorted by id within one. The admin port is the one the test configures (9090
 * unless it sets `supervisor.adminPort`; `onRange` sets it from the row).
 */
export const TEST_RANGES = {
  // ---- reservations of this session (issue 17/18 helpers): rows `within` them when they land.
  'reserved-rg': reserve('reserved: hosts-hardening and audit additions', 210, 'rg'),
  'reserved-sh': reserve('reserved: hosts-secrets additions', 211, 'sh'),
  'reserved-rgy': reserve('reserved: service registry', 212, 'rgy'),
  'reserved-rt': reserve('reserved: runtime conformance suite', 213, 'rt'),
  'reserved-dr': reserve('reserved: db client retry policy', 214, 'dr'),
  'reserved-kit': reserve('reserved: the test kit (and tests it moved off a shared range)', 215, undefined),
  'reserved-at': reserve('reserved: generic app tier (issue 19)', 220, 'at'),
  'reserved-ep': reserve('reserved: local db/redis endpoints (issue 19)', 221, 'ep'),
  'reserved-py': reserve('reserved: python example (issue 19)', 222, 'py'),
  // Not a test: the Python example's own configs, run by hand (`./hastack up -f examples/python/hastack.yaml`),
  // kept off every test's range so that trying the example never collides with a test run.
  'example-python': {
    file: 'reserved: examples/python/hastack.yaml (127.0.12) and hastack.simple.yaml (127.0.13)',
    // Its clusters, pyexample and pyexsimple, are in reserved-py's prefix.
    clusters: [],
    loopback: [
      { base: '127.0.12', first: 1, last: 254 },
      { base: '127.0.13', first: 1, last: 254 },
    ],
    private: [],
    reserved: true,
  },
  'reserved-tls': reserve('reserved: TLS at the edge (issue 20)', 223, 'tls'),
  'reserved-acme': reserve('reserved: ACME certificates (issue 20)', 224, 'acme'),
  'reserved-hsys': reserve('reserved: systemd host bed (issue 21)', 225, 'hsys'),
  'reserved-fence': reserve('reserved: failover.fence (issue 21)', 228, 'fence'),
  'reserved-hgal': reserve('reserved: Galera on hosts (issue 21)', 227, 'hgal'),
  'reserved-bkfo': reserve('reserved: backups after failover (issue 21)', 229, 'bkfo'),
  'reserved-nv': reserve('reserved: chaos report and naive clients (issue 22)', 231, 'nv'),
  'reserved-happ': reserve('reserved: own app and HTTPS on hosts (issues 19/20)', 230, 'happ'),
  'reserved-vip': reserve('reserved: keepalived VIP on hosts (issue 21)', 226, 'vip'),
  'reserved-ec': reserve('reserved: encrypted, off-machine backups and drills (issue 24)', 237, 'ec'),
  'reserved-pt': reserve('reserved: point-in-time recovery (issue 24)', 236, 'pt'),
  'reserved-hw': reserve('reserved: writes held at the app side (issue 22)', 233, 'hw'),
  'reserved-rw': reserve('reserved: reads never wait (issue 22)', 232, 'rw'),
  'reserved-lp': reserve('reserved: lossless promotion and chaos soak (issue 23)', 235, 'lp'),
  'reserved-qm': reserve('reserved: etcd quorum failover (issue 23)', 234, 'qm'),
  'reserved-op': reserve('reserved: operator command line (issue 25)', 238, 'op'),

  // ---- rows inside this session's reservations (their files land with the other helpers' branches)
  // A primary and a replica (semi-sync) at .1 and .2 (startReplicationSet's unused node at .100): a
  // COMMIT killed in its ACK wait must not be acknowledged through a replay on that primary.
  'db-acked-replay': {
    file: 'test/integration/db-acked-replay.side.test.ts',
    clusters: ['dbacked'],
    loopback: [
      { base: '127.0.218', first: 1, last: 2 },
      { base: '127.0.218', first: 100, last: 100 },
    ],
    private: [],
  },
  // Per-service control (issue 25): stop/start an app server, restart a database replica, drain (cluster svcctl).
  'service-control': {
    file: 'test/integration/service-control.side.test.ts',
    clusters: ['svcctl'],
    loopback: [{ base: '127.0.217', first: 1, last: 3, admin: 9090 }],
    private: [],
  },
  // The simple preset with an encrypted backup to two targets (the standby and a directory), a drill, a tampered copy.
  'backup-crypt': {
    file: 'test/integration/backup-crypt.side.test.ts',
    clusters: ['eccrypt'],
    loopback: [{ base: '127.0.237', first: 1, last: 2, admin: 9090 }],
    private: [],
    within: 'reserved-ec',
  },
  // The simple preset with a backup target on a plain machine over SSH: a real sshd of its own on
  // .3:2222; .4 is a source address the backup key's from= does not name (refused).
  'backup-ssh-target': {
    file: 'test/integration/backup-ssh-target.side.test.ts',
    clusters: ['bkssh'],
    loopback: [{ base: '127.0.239', first: 1, last: 4, admin: 9090 }],
    private: [],
    ports: [2222],
  },
  // .21-.99 of 127.0.232 stay free for `chaos run` measurements (cluster rwchaos, admin :9090).
  'reads-never-wait': {
    file: 'test/integration/reads-never-wait.side.test.ts',
    // rwrepl: a replication primary and replica (kit/db-replication.ts: .1, .2); rwreads: Galera and Redis.
    clusters: ['rwrepl', 'rwreads'],
    loopback: [
      { base: '127.0.232', first: 1, last: 2 },
      { base: '127.0.232', first: 101, last: 107, admin: 9232 },
    ],
    private: [],
    within: 'reserved-rw',
  },
  // The host bed takes the /24; lb.vip is its .100 (a spare address of the bed, no host has it).
  'hosts-vip': { file: 'test/integration/hosts-vip.test.ts', clusters: ['viptest'], loopback: [], private: ['10.213.226'], within: 'reserved-vip' },
  // One `ideal` cluster: naive clients through a load-balancer kill (issue 22).
  'naive-lb': {
    file: 'test/chaos/naive-lb.side.test.ts',
    clusters: ['nvlb'],
    loopback: [{ base: '127.0.231', first: 1, last: 30, admin: 9090 }],
    private: [],
    within: 'reserved-nv',
  },
  // The simple preset on a three-host bed; the test's "power API" listens on the bridge's .254
  // (the machine outside the hosts), port 8228.
  'hosts-fence': { file: 'test/integration/hosts-fence.test.ts', clusters: ['fencehosts'], loopback: [], private: ['10.213.228'], within: 'reserved-fence', ports: [8228] },
  // One MariaDB at .1 (startReplicationSet's unused node at .100), and the test's own TCP proxy
  // in front of it at .2:3306, which cuts a connection before a statement or just after COMMIT.
  'db-held-writes': {
    file: 'test/integration/db-held-writes.side.test.ts',
    clusters: ['hwheld'],
    loopback: [
      { base: '127.0.233', first: 1, last: 2 },
      { base: '127.0.233', first: 100, last: 100 },
    ],
    private: [],
    within: 'reserved-hw',
  },
  'app-command': {
    file: 'test/integration/app-command.test.ts',
    clusters: ['atcmd'],
    loopback: [{ base: '127.0.220', first: 1, last: 2, admin: 9090 }],
    private: [],
    within: 'reserved-at',
  },
  // The Python example (examples/python) on engines the test starts itself: gunicorn, worker, migration.
  'python-app': {
    file: 'test/integration/python-app.test.ts',
    clusters: ['pyapp'],
    loopback: [{ base: '127.0.222', first: 1, last: 1 }],
    private: [],
    within: 'reserved-py',
  },
  // One `ideal` cluster of the Python example for three faults (Galera writer, Redis master, app node).
  'python-ideal': {
    file: 'test/chaos/python-ideal.test.ts',
    clusters: ['pyideal'],
    loopback: [{ base: '127.0.222', first: 11, last: 25, admin: 9090 }],
    private: [],
    within: 'reserved-py',
  },
  // The `simple` variant: the primary server killed, `hastack failover` at once.
  'python-server': {
    file: 'test/chaos/python-server.test.ts',
    clusters: ['pysimple'],
    loopback: [{ base: '127.0.222', first: 31, last: 32, admin: 9091 }],
    private: [],
    within: 'reserved-py',
  },
  // Two load balancers (+dns), one core node, and pebble (the ACME server) on .10: ports 14000
  // (ACME directory) and 15000 (its management API: the issuing root).
  acme: {
    file: 'test/integration/acme.side.test.ts',
    clusters: ['acme'],
    loopback: [{ base: '127.0.224', first: 1, last: 10, admin: 9090 }],
    private: [],
    within: 'reserved-acme',
    ports: [14000, 15000],
  },
  // The `ideal` preset (Galera) deployed on a four-host bed: chaos scenarios, full crash + db recover.
  'hosts-galera': { file: 'test/integration/hosts-galera.test.ts', clusters: ['hgalera'], loopback: [], private: ['10.213.227'], within: 'reserved-hgal' },
  // The simple preset on a host bed with systemd as PID 1 on every host (one bed: the whole /24).
  'hosts-systemd': {
    file: 'test/integration/hosts-systemd.test.ts',
    clusters: ['hsys'],
    loopback: [],
    private: ['10.213.225'],
    within: 'reserved-hsys',
  },
  // The simple preset on a three-host bed: scheduled backups before and after a switchover.
  'backup-after-failover': {
    file: 'test/integration/backup-after-failover.test.ts',
    clusters: ['bkfo'],
    loopback: [],
    private: ['10.213.229'],
    within: 'reserved-bkfo',
  },
  // The Python example with lb.tls (files + ACME) deployed to a three-host bed; pebble listens on the
  // bed bridge's .254 (ports 14000 ACME directory, 15000 management), reachable from the hosts.
  'hosts-app': {
    file: 'test/integration/hosts-app.test.ts',
    clusters: ['happ'],
    loopback: [],
    private: ['10.213.230'],
    within: 'reserved-happ',
    ports: [14000, 15000],
  },
  'runtime-conformance': {
    file: 'test/integration/runtime-conformance.test.ts',
    clusters: ['rtlocal', 'rtnetns'],
    loopback: [{ base: '127.0.213', first: 1, last: 3, admin: 9090 }],
    private: ['10.213.213'],
    within: 'reserved-rt',
  },
  // The hosts half runs in the second lane, alongside the first: a bed of its own, off the rt range.
  'runtime-conformance-hosts': {
    file: 'test/integration/runtime-conformance-hosts.side.test.ts',
    clusters: ['hostsconf'],
    loopback: [{ base: '127.0.216', first: 1, last: 2 }],
    private: ['10.213.216'],
  },

  // ---- benches (bench/)
  'bench-cache': { file: 'bench/cache.ts', clusters: [], loopback: [{ base: '127.0.47', first: 1, last: 3 }], private: [] },
  'bench-db': {
    file: 'bench/db.ts',
    clusters: ['benchdb'],
    loopback: [
      { base: '127.0.55', first: 1, last: 3 },
      { base: '127.0.55', first: 100, last: 100 },
    ],
    private: [],
  },
  'bench-endpoints': { file: 'bench/endpoints.ts', clusters: ['epbench'], loopback: [{ base: '127.0.221', first: 1, last: 9 }], private: [], within: 'reserved-ep' },
  'bench-lb': { file: 'bench/lb.ts', clusters: ['benchlb'], loopback: [{ base: '127.0.45', first: 101, last: 120 }], private: [] },
  'tls-edge': {
    file: 'test/integration/tls-edge.side.test.ts',
    clusters: ['tlsedge'],
    loopback: [{ base: '127.0.223', first: 41, last: 41, admin: 9090 }],
    private: [],
    within: 'reserved-tls',
  },
  'bench-tls': { file: 'bench/tls.ts', clusters: ['tlsbench'], loopback: [{ base: '127.0.223', first: 101, last: 120 }], private: [], within: 'reserved-tls' },

  // ---- chaos (test/chaos/)
  'broken-app': { file: 'test/chaos/broken-app.test.ts', clusters: ['broken'], loopback: [{ base: '127.0.31', first: 1, last: 1, admin: 9090 }], private: [] },
  'local-sessions': { file: 'test/chaos/local-sessions.test.ts', clusters: ['lostsess'], loopback: [{ base: '127.0.59', first: 1, last: 2, admin: 9090 }], private: [] },
  'partition-db-primary': { file: 'test/chaos/partition-db-primary.test.ts', clusters: ['hsdbpart'], loopback: [{ base: '127.0.68', admin: 9090 }], private: ['10.213.70'] },
  'partition-galera-minority': {
    file: 'test/chaos/partition-galera-minority.test.ts',
    clusters: ['hsgalpart'],
    loopback: [{ base: '127.0.69', admin: 9090 }],
    private: ['10.213.71'],
  },
  partitions: {
    file: 'test/chaos/partitions.test.ts',
    clusters: ['hsparts', 'hsideal'],
    loopback: [
      { base: '127.0.66', admin: 9090 },
      { base: '127.0.67', admin: 9090 },
    ],
    private: ['10.213.66', '10.213.67'],
  },
  // .253: the audit check's open stand-in admin API.
  scenarios: {
    file: 'test/chaos/scenarios.test.ts',
    clusters: ['chaos'],
    loopback: [
      { base: '127.0.30', first: 1, last: 15, admin: 9090 },
      { base: '127.0.30', first: 253, last: 253 },
    ],
    private: [],
  },
  'semisync-fallback': { file: 'test/chaos/semisync-fallback.test.ts', clusters: ['hsr1async'], loopback: [{ base: '127.0.201', admin: 9090 }], private: ['10.213.201'] },
  // Moved off 127.0.57 (server-failover's) into the kit's range.
  'server-auto-failover': {
    file: 'test/chaos/server-auto-failover.test.ts',
    clusters: ['srvauto'],
    loopback: [{ base: '127.0.215', first: 11, last: 12, admin: 9091 }],
    private: [],
    within: 'reserved-kit',
  },
  'server-failover': { file: 'test/chaos/server-failover.test.ts', clusters: ['srvfo'], loopback: [{ base: '127.0.57', first: 1, last: 2, admin: 9090 }], private: [] },
  // netns (root): the simple preset with failover.auto, soaked (`chaos soak`); HASTACK_SOAK_RUNS for more runs.
  soak: { file: 'test/chaos/soak.side.test.ts', clusters: ['lpsoak'], loopback: [{ base: '127.0.235', admin: 9090 }], private: ['10.213.235'], within: 'reserved-lp' },

  // ---- integration (test/integration/)
  app: { file: 'test/integration/app.test.ts', clusters: ['apptest'], loopback: [{ base: '127.0.60', first: 1, last: 8 }], private: [] },
  pitr: { file: 'test/integration/pitr.test.ts', clusters: ['pt'], loopback: [{ base: '127.0.236', first: 1, last: 2, admin: 9090 }], private: [], within: 'reserved-pt' },
  // Point-in-time recovery on Galera: three Galera nodes and a front node.
  'galera-pitr': {
    file: 'test/integration/galera-pitr.test.ts',
    clusters: ['ptgal'],
    loopback: [{ base: '127.0.236', first: 11, last: 14, admin: 9236 }],
    private: [],
    within: 'reserved-pt',
  },
  // restore --into-cluster on Galera on a four-host bed (db1-db3, edge): the whole private /24 of the reservation.
  'hosts-galera-restore': { file: 'test/integration/hosts-galera-restore.test.ts', clusters: ['pthg'], loopback: [], private: ['10.213.236'], within: 'reserved-pt' },
  'backup-retention': { file: 'test/integration/backup-retention.test.ts', clusters: ['bkret'], loopback: [{ base: '127.0.207', first: 21, last: 22, admin: 9208 }], private: [] },
  backup: { file: 'test/integration/backup.side.test.ts', clusters: ['bkp'], loopback: [{ base: '127.0.62', first: 1, last: 2, admin: 9090 }], private: [] },
  cli: { file: 'test/integration/cli.test.ts', clusters: [], loopback: [], private: [] },
  cluster: {
    file: 'test/integration/cluster.test.ts',
    clusters: ['itest'],
    loopback: [
      { base: '127.0.20', first: 1, last: 15, admin: 9090 },
      { base: '127.0.20', first: 100, last: 100 },
    ],
    private: [],
  },
  dashboard: { file: 'test/integration/dashboard.test.ts', clusters: ['dash'], loopback: [{ base: '127.0.64', first: 1, last: 5, admin: 9090 }], private: [] },
  'db-router': {
    file: 'test/integration/db-router.test.ts',
    clusters: ['dbrouter'],
    loopback: [
      { base: '127.0.53', first: 1, last: 3 },
      { base: '127.0.53', first: 100, last: 100 },
    ],
    private: [],
  },
  // Three MariaDB servers, the third a delayed replica (issue 24).
  'delayed-replica': { file: 'test/integration/delayed-replica.test.ts', clusters: ['delayrep'], loopback: [{ base: '127.0.73', first: 11, last: 14 }], private: [] },
  // Three etcd members (the decision quorum, issue 23): election takeover, a lease counted from its renewal.
  'quorum-election': {
    file: 'test/integration/quorum-election.side.test.ts',
    clusters: ['qmelect'],
    loopback: [{ base: '127.0.234', first: 1, last: 3 }],
    private: [],
    within: 'reserved-qm',
  },
  // The local endpoints through real clients (mariadb, redis-cli) across a writer kill and a Sentinel failover.
  endpoints: { file: 'test/integration/endpoints.test.ts', clusters: ['eptest'], loopback: [{ base: '127.0.221', first: 20, last: 29 }], private: [], within: 'reserved-ep' },
  engines: { file: 'test/integration/engines.test.ts', clusters: ['engtest'], loopback: [{ base: '127.0.50', first: 1, last: 5 }], private: [], ports: [6390] },
  'erp-concurrency': { file: 'test/integration/erp-concurrency.test.ts', clusters: ['erpconc'], loopback: [{ base: '127.0.48', first: 1, last: 2, admin: 9090 }], private: [] },
  erp: { file: 'test/integration/erp.test.ts', clusters: ['erptest'], loopback: [{ base: '127.0.58', first: 1, last: 2, admin: 9090 }], private: [] },
  failover: { file: 'test/integration/failover.side.test.ts', clusters: ['fotest'], loopback: [{ base: '127.0.56', first: 1, last: 2, admin: 9090 }], private: [] },
  'full-disk': { file: 'test/integration/full-disk.test.ts', clusters: ['hsr8disk'], loopback: [{ base: '127.0.201', first: 21, last: 21, admin: 9292 }], private: [] },
  'galera-membership': {
    file: 'test/integration/galera-membership.test.ts',
    clusters: ['gmember', 'gtls'],
    // .1-.4 the first cluster, .9 the stranger, .11-.14 the TLS cluster.
    loopback: [
      { base: '127.0.207', first: 1, last: 4, admin: 9207 },
      { base: '127.0.207', first: 9, last: 9 },
      { base: '127.0.207', first: 11, last: 14, admin: 9209 },
    ],
    private: [],
  },
  galera: { file: 'test/integration/galera.test.ts', clusters: ['galtest'], loopback: [{ base: '127.0.52', first: 1, last: 4, admin: 9152 }], private: [] },
  'hosts-agent': { file: 'test/integration/hosts-agent.side.test.ts', clusters: ['agenttest'], loopback: [{ base: '127.0.75', first: 1, last: 2 }], private: [] },
  // The hosts substrate ignores addressBase; 127.0.200 is named in its config only.
  'hosts-auto-failover-load': {
    file: 'test/integration/hosts-auto-failover-load.side.test.ts',
    clusters: ['autoload'],
    loopback: [{ base: '127.0.200' }],
    private: ['10.213.200'],
  },
  'hosts-auto-failover': { file: 'test/integration/hosts-auto-failover.side.test.ts', clusters: ['autohosts'], loopback: [], private: ['10.213.82'] },
  'hosts-deploy': { file: 'test/integration/hosts-deploy.side.test.ts', clusters: ['deployed'], loopback: [], private: ['10.213.81'] },
  'hosts-hardening': { file: 'test/integration/hosts-hardening.side.test.ts', clusters: ['hardened'], loopback: [], private: ['10.213.206'] },
  // A controller on each of three etcd hosts (issue 23): the acting one's machine killed with the primary's.
  'hosts-quorum': { file: 'test/integration/hosts-quorum.side.test.ts', clusters: ['qmhosts'], loopback: [], private: ['10.213.234'], within: 'reserved-qm' },
  'hosts-secrets': { file: 'test/integration/hosts-secrets.side.test.ts', clusters: ['h5ahostsecrets'], loopback: [], private: ['10.213.205'] },
  'hosts-ssh': { file: 'test/integration/hosts-ssh.side.test.ts', clusters: [], loopback: [], private: ['10.213.80'] },
  // The machine's own first interface (keepalived --config-test only: nothing listens).
  'keepalived-conf': { file: 'test/integration/keepalived-conf.test.ts', clusters: ['kacheck'], loopback: [], private: [] },
  // Admin port 9168, not 9090: partitions.test.ts has 127.0.66.254:9090.
  netns: { file: 'test/integration/netns.test.ts', clusters: ['hsnetns'], loopback: [{ base: '127.0.66', admin: 9168 }], private: ['10.213.68'] },
  'redis-failover': { file: 'test/integration/redis-failover.side.test.ts', clusters: ['redisfo'], loopback: [{ base: '127.0.60', first: 11, last: 16 }], private: [] },
  'replica-provision': { file: 'test/integration/replica-provision.test.ts', clusters: ['provtest'], loopback: [{ base: '127.0.73', first: 1, last: 4 }], private: [] },
  'replication-tls': { file: 'test/integration/replication-tls.test.ts', clusters: ['repltls'], loopback: [{ base: '127.0.207', first: 31, last: 32, admin: 9210 }], private: [] },
  'review-sessions-erp': {
    file: 'test/integration/review-sessions-erp.test.ts',
    clusters: ['revh2'],
    loopback: [{ base: '127.0.202', first: 1, last: 2, admin: 9090 }],
    private: [],
  },
  schedules: { file: 'test/integration/schedules.side.test.ts', clusters: ['ticks'], loopback: [{ base: '127.0.41', first: 1, last: 7, admin: 9090 }], private: [] },
  // .99: a machine outside the cluster (a socat relay on 13306).
  secrets: {
    file: 'test/integration/secrets.test.ts',
    clusters: ['h5asecrets'],
    loopback: [
      { base: '127.0.205', first: 1, last: 2, admin: 9090 },
      { base: '127.0.205', first: 99, last: 99 },
    ],
    private: [],
    ports: [13306],
  },
  'state-files': { file: 'test/integration/state-files.test.ts', clusters: ['hsr9state'], loopback: [{ base: '127.0.201', first: 11, last: 12, admin: 9291 }], private: [] },
  // Moved off 127.0.66 and 10.213.66 (partitions.test.ts's) into the kit's range.
  'substrate-conformance': {
    file: 'test/integration/substrate-conformance.test.ts',
    clusters: ['hsconflocal', 'hsconfnetns'],
    loopback: [{ base: '127.0.215', first: 21, last: 22 }],
    private: ['10.213.215'],
    within: 'reserved-kit',
    ports: [16601],
  },
  // Moved off 127.0.56 (failover's) into the kit's range.
  switchover: {
    file: 'test/integration/switchover.side.test.ts',
    clusters: ['sotest'],
    loopback: [{ base: '127.0.215', first: 1, last: 2, admin: 9090 }],
    private: [],
    within: 'reserved-kit',
  },
} as const satisfies Record<string, TestRow>;

export type TestId = keyof typeof TEST_RANGES;

/** What a test needs from its row, with the usual shapes of the values. */
export interface TestRange {
  readonly id: TestId;
  readonly row: TestRow;
  /** Its first cluster name. */
  readonly cluster: string;
  /** Its first loopback base (`127.0.50`). */
  readonly base: string;
  /** `<base>.<n>` of its first span. */
  address(n: number): string;
  /** The first span's admin port, when the test runs a supervisor. */
  readonly adminPort: number | undefined;
  /** Its first private /24, for `netns.addressBase` or a host bed. */
  readonly privateBase: string | undefined;
}

export function testRange(id: TestId): TestRange {
  const row: TestRow = TEST_RANGES[id];
  const span = row.loopback[0];
  return {
    id,
    row,
    cluster: row.clusters[0] ?? id,
    base: span?.base ?? '',
    address: (n) => {
      if (span === undefined) throw new Error(`test ${id} has no loopback range in kit/addresses.ts`);
      return `${span.base}.${n}`;
    },
    adminPort: span?.admin,
    privateBase: row.private[0],
  };
}

// ---- overlap ----------------------------------------------------------------------------------

/** One occupied thing: addresses of a /24 (a range, every port) or one address and port. */
interface Claim {
  readonly id: string;
  readonly base: string;
  readonly from: number;
  readonly to: number;
  /** undefined: every port. */
  readonly port?: number;
}

function claimsOf(id: string, row: TestRow): Claim[] {
  const out: Claim[] = [];
  for (const s of row.loopback) {
    if (s.first !== undefined) out.push({ id, base: s.base, from: s.first, to: s.last ?? s.first });
    if (s.admin !== undefined) out.push({ id, base: s.base, from: 254, to: 254, port: s.admin });
  }
  for (const p of row.private) out.push({ id, base: p, from: 0, to: 255 });
  return out;
}

const clash = (a: Claim, b: Claim): boolean => a.base === b.base && a.from <= b.to && b.from <= a.to && (a.port === undefined || b.port === undefined || a.port === b.port);

const describeClaim = (c: Claim): string => `${c.base}.${c.from === c.to ? c.from : `${c.from}-${c.to}`}${c.port === undefined ? '' : `:${c.port}`}`;

/** Every overlap between rows, one sentence each; empty when the table is sound. */
export function findOverlaps(table: Readonly<Record<string, TestRow>>): string[] {
  const problems: string[] = [];
  const ids = Object.keys(table);
  const row = (id: string): TestRow => table[id] as TestRow;
  // Two rows may share only when one is the reservation the other lives in.
  const related = (a: string, b: string): boolean => row(a).within === b || row(b).within === a;

  for (const id of ids) {
    const r = row(id);
    if (r.within !== undefined) {
      const res = table[r.within];
      if (res === undefined || res.reserved !== true) {
        problems.push(`${id}: within "${r.within}", which is not a reservation in the table`);
        continue;
      }
      for (const c of claimsOf(id, r)) {
        if (!claimsOf(r.within, res).some((rc) => clash(c, rc))) problems.push(`${id}: ${describeClaim(c)} is outside its reservation ${r.within}`);
      }
    }
  }

  const claims = ids.flatMap((id) => claimsOf(id, row(id)));
  for (let i = 0; i < claims.length; i++) {
    for (let j = i + 1; j < claims.length; j++) {
      const a = claims[i] as Claim;
      const b = claims[j] as Claim;
      if (a.id === b.id || related(a.id, b.id) || !clash(a, b)) continue;
      problems.push(`${a.id} (${row(a.id).file}) and ${b.id} (${row(b.id).file}) both use ${describeClaim(a)} / ${describeClaim(b)}`);
    }
  }

  // Cluster names: unique; a reserved prefix owns every name starting with it (the longest wins).
  const prefixes = ids.flatMap((id) =>
    row(id)
      .clusters.filter((n) => n.endsWith('*'))
      .map((n) => ({ id, prefix: n.slice(0, -1) })),
  );
  const seen = new Map<string, string>();
  for (const id of ids) {
    for (const name of row(id).clusters) {
      const other = seen.get(name);
      if (other !== undefined && other !== id) problems.push(`cluster name ${name} is used by ${other} and ${id}`);
      seen.set(name, id);
      if (name.endsWith('*')) continue;
      const owner = prefixes.filter((p) => name.startsWith(p.prefix)).sort((a, b) => b.prefix.length - a.prefix.length)[0];
      if (owner !== undefined && owner.id !== id && !related(owner.id, id)) problems.push(`cluster name ${name} of ${id} is in ${owner.id}'s reserved prefix ${owner.prefix}*`);
    }
  }
  return problems;
}
