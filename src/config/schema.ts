import { z } from 'zod';
import { appSchema, verifySchema, workerSchema } from './app-schema.js';
import { backupSchema, nodeName } from './backup-schema.js';

/** The kinds a node lists in hastack.yaml. Engines are Debian programs; the rest are ours. */
export const PLACED_KINDS = ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker', 'lb', 'dns', 'etcd'] as const;
/**
 * The local endpoints (src/endpoints): never listed by hand; the topology places them on every
 * node that carries `app` or `worker` when `endpoints.enabled` is on (`endpointsOn`).
 */
export const ENDPOINT_KINDS = ['db-endpoint', 'db-read-endpoint', 'redis-endpoint'] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];
/** Every kind of service a node can carry. */
export const SERVICE_KINDS = [...PLACED_KINDS, ...ENDPOINT_KINDS] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];

/** Each service's usual port; every node has its own address, so they never collide. */
export const DEFAULT_PORTS: Readonly<Record<ServiceKind, number>> = {
  mariadb: 3306,
  redis: 6379,
  sentinel: 26379,
  memcached: 11211,
  app: 8000,
  // Workers have no traffic port of their own; this one serves only /healthz for the supervisor.
  worker: 8100,
  lb: 8080,
  // 53 needs privileges and collides with the host's resolver; 5353 is the usual unprivileged choice.
  dns: 5353,
  // etcd's own client port; its peer port is the next one (2380).
  etcd: 2379,
  // ProxySQL's and MySQL Router's usual client port, beside the read-only one after it.
  'db-endpoint': 6033,
  'db-read-endpoint': 6034,
  // Next to Redis's own 6379, so nothing on a node that also runs Redis collides.
  'redis-endpoint': 6380,
};

const ipv4 = z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'must be an IPv4 address');

export const nodeSchema = z
  .object({
    name: nodeName,
    /** Optional; the local substrate assigns `addressBase.N` in node order when absent. */
    address: ipv4.optional(),
    /**
     * `substrate: hosts` only: how to reach the machine, `user@host` or `user@host:port`
     * (key-based; its host key must already be in `hosts.knownHostsFile`).
     */
    ssh: z
      .string()
      .regex(/^[a-z_][a-z0-9_.-]*@[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be user@host or user@host:port, like root@10.0.0.5')
      .optional(),
    services: z.array(z.enum(PLACED_KINDS)).min(1, 'a node needs at least one service'),
  })
  .strict();

const portsSchema = z
  .object({
    ...(Object.fromEntries(SERVICE_KINDS.map((k) => [k, z.number().int().min(1).max(65535).optional()])) as {
      [K in ServiceKind]: z.ZodOptional<z.ZodNumber>;
    }),
    /** The load balancers' HTTPS listener (with `lb.tls`): default 8443 on `local`/`netns`, 443 on hosts (`httpsPort`). */
    https: z.number().int().min(1).max(65535).optional(),
  })
  .strict();

/** A DNS name a certificate may carry (no wildcard for ACME's HTTP-01, which cannot prove one). */
const dnsName = z.string().regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'must be a lower-case DNS name');

/** One year: the HSTS max-age Mozilla's and the preload list's guidance ask for. */
export const HSTS_DEFAULT_MAX_AGE_S = 365 * 24 * 3600;

/**
 * `lb.tls`: HTTPS at the edge (issue 20; src/lb/tls/README.md). Certificates come from the files
 * in `certificates`, from ACME (`acme`), or from the cluster's own CA (`local`, the default on
 * `local`/`netns` when neither of the others is given).
 */
export const lbTlsSchema = z
  .object({
    /**
     * PEM files relative to hastack.yaml, chosen by SNI (a certificate's DNS names and
     * addresses); the first one is served to clients that send no name or an unknown one.
     */
    certificates: z
      .array(z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict())
      .min(1, 'give at least one {certFile, keyFile}, or leave certificates out')
      .optional(),
    /** Certificates obtained and renewed from an ACME server with HTTP-01 (src/lb/tls/acme*). */
    acme: z
      .object({
        directoryUrl: z.string().url('must be the ACME directory URL, like https://acme-v02.api.letsencrypt.org/directory'),
        email: z.string().email('must be an e-mail address for the ACME account'),
        names: z.array(dnsName).min(1, 'name at least one DNS name'),
        // 30 days before expiry: Let's Encrypt's own advice (a third of a 90-day certificate),
        // leaving weeks of retries before an outage.
        renewBeforeDays: z.number().min(0).max(365).default(30),
        /** A CA file (PEM, relative to hastack.yaml) to trust for the ACME server's own HTTPS (pebble's test CA); default: the system store. */
        caFile: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** The cluster's own CA signs a certificate for `serviceName` and the load balancers' addresses (`.hastack/<cluster>/tls/`). Default: on for `local`/`netns` when neither certificates nor acme is given. */
    local: z.boolean().optional(),
    /** Plain HTTP answered with 308 to the HTTPS URL (ACME challenge paths excepted). */
    redirectHttp: z.boolean().default(true),
    /** `Strict-Transport-Security` on HTTPS answers: off unless set; `true` = one year; or `{maxAgeS, includeSubDomains}`. */
    hsts: z
      .union([
        z.boolean(),
        z
          .object({
            maxAgeS: z.number().int().min(0).default(HSTS_DEFAULT_MAX_AGE_S),
            includeSubDomains: z.boolean().default(false),
          })
          .strict(),
      ])
      .default(false),
    // 12 h per session-ticket key period: Mozilla's advice is to rotate at least daily for
    // forward secrecy; every load balancer derives the same key for a period from the cluster's
    // tlsTicketSecret, so a session resumes on any of them (src/lb/tls/tickets.ts).
    ticketKeyPeriodS: z
      .number()
      .int()
      .min(60)
      .max(7 * 24 * 3600)
      .default(12 * 3600),
  })
  .strict()
  .refine((t) => !(t.local === true && (t.certificates !== undefined || t.acme !== undefined)), {
    message: 'local: true makes the cluster its own certificate; leave it out when certificates or acme is given',
    path: ['local'],
  });
export type LbTlsConfig = z.output<typeof lbTlsSchema>;

export const configSchema = z
  .object({
    cluster: nodeName.default('hastack'),
    /** Which preset this file started from; informational. */
    preset: z.enum(['ideal', 'simple', 'custom']).default('custom'),
    /**
     * `local`: loopback addresses; `netns`: one network namespace per node (root, Linux), for
     * partitions; `hosts`: real machines reached over SSH (`hastack deploy`), each node with its
     * own `address` and `ssh` target.
     */
    substrate: z.enum(['local', 'netns', 'hosts']).default('local'),
    /** The first three octets of the loopback addresses the local substrate hands out. */
    addressBase: z
      .string()
      .regex(/^127\.\d{1,3}\.\d{1,3}$/, 'must be three octets inside 127.0.0.0/8, like 127.0.10')
      .default('127.0.10'),
    netns: z
      .object({
        /**
         * The first three octets of the private /24 the netns substrate hands out: nodes get .1, .2,
         * ... in config order, the host's side of the bridge .254. Used only inside hastack's own
         * namespaces and bridge; pick one no interface of the machine uses.
         */
        addressBase: z
          .string()
          .regex(/^(10|172|192)\.\d{1,3}\.\d{1,3}$/, 'must be three octets of a private range, like 10.213.0')
          .default('10.213.0'),
      })
      .strict()
      .default({}),
    hosts: z
      .object({
        /** Where `deploy` installs hastack itself on every host. */
        installDir: z
          .string()
          .regex(/^\/[^\s]*$/, 'must be an absolute path')
          .default('/opt/hastack'),
        /** Where each host keeps the cluster's state (`<stateDir>/<cluster>/`: data, rendered config, logs). */
        stateDir: z
          .string()
          .regex(/^\/[^\s]*$/, 'must be an absolute path')
          .default('/var/lib/hastack'),
        /** The node that runs the controller (admin API, status, failover manager); default: the first node. */
        controller: nodeName.optional(),
        /** Private key for SSH (default: ssh's own, `~/.ssh/id_*`). Relative to this file, or `~/...`. */
        identityFile: z.string().min(1).optional(),
        /** known_hosts file that must hold every host's key (default: ssh's own). Host keys are always verified. */
        knownHostsFile: z.string().min(1).optional(),
        /** `auto`: systemd where it is PID 1, else hastack's own per-service keeper (`hastack _keep`). */
        serviceManager: z.enum(['auto', 'systemd', 'hastack']).default('auto'),
        /**
         * Where the controller's admin API and dashboard listen on its host. Default loopback: reach
         * it with `ssh -L 9090:127.0.0.1:9090 <controller>`. Set it to the controller's address on
         * an admin network only: status and events are readable there without the token.
         */
        adminAddress: z.string().ip({ version: 'v4' }).default('127.0.0.1'),
        /** The largest clock difference between the deploying machine and a host that `deploy` accepts. */
        maxClockSkewMs: z.number().int().min(0).default(2_000),
      })
      .strict()
      .default({}),
    /** The name clients resolve through hastack's DNS to reach the load balancers. */
    serviceName: z
      .string()
      .regex(/^[a-z0-9.-]+$/, 'must be a DNS name')
      .default('erp.hastack.test'),
    app: appSchema,
    worker: workerSchema,
    nodes: z.array(nodeSchema).min(1, 'a cluster needs at least one node'),
    ports: portsSchema.default({}),
    database: z
      .object({
        mode: z.enum(['replication', 'galera']).default('replication'),
        name: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/, 'must be a plain SQL identifier')
          .default('app'),
        /** Semi-sync AFTER_SYNC: a commit is acknowledged only once a replica has it. */
        semiSync: z.boolean().default(true),
        /** How long the primary waits for a replica's ack before falling back to async (ms). */
        semiSyncTimeoutMs: z.number().int().min(100).default(10_000),
        bufferPoolMb: z.number().int().min(16).default(64),
        /**
         * The lock reaper (src/control/lock-reaper.ts): an app session idle this long inside a
         * transaction that other sessions wait for is killed, and its transaction rolls back. An
         * app server frozen, cut off or powered off between two statements otherwise holds its row
         * locks until TCP gives up (hours), and every order needing those rows waits. 1 s: far
         * above the gap between two statements of a request (milliseconds), small next to a
         * browser's patience. Only the app's account; a slow transaction nobody waits for is never
         * touched. 0 turns it off.
         */
        idleLockHolderKillMs: z.number().int().min(0).max(600_000).default(1_000),
        /**
         * TLS for the database's traffic between nodes (Galera group, IST and SST), with a
         * per-cluster CA hastack makes (src/engines/tls.ts). `auto`: on for `substrate: hosts`,
         * off on one machine (`local`, `netns`). Turning it on or off for a running Galera
         * cluster needs a full restart: a TLS node and a plain one cannot talk.
         */
        tls: z.enum(['auto', 'on', 'off']).default('auto'),
        /**
         * Addresses (or MariaDB host patterns like `10.1.2.%`) besides the cluster's nodes from
         * which the database admin account may log in: an operator's machine outside the cluster
         * that runs `failover`, `backup` or `status` against it. The account is otherwise limited
         * to the nodes' addresses and the machine's own loopback.
         */
        adminFrom: z
          .array(z.string().regex(/^[0-9a-fA-F.:%_/]+$/, 'must be an address or a pattern of one (10.1.2.%), not a host name: the server skips name resolution'))
          .default([]),
        /**
         * A delayed replica (`replication` mode, issue 24): the node applies what the primary
         * committed only this many seconds later (MariaDB's MASTER_DELAY; it still receives at
         * once), so a mistake (a `DELETE` without `WHERE`, a bad migration) can be copied off it
         * before it arrives. Never promoted, never read from, never the backup's source; `status`
         * shows it as such. It needs another replica: it is no failover candidate.
         */
        delayedReplica: z
          .object({
            node: nodeName,
            delaySeconds: z
              .number()
              .int()
              .min(1)
              .max(7 * 24 * 3600),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({}),
    redis: z
      .object({
        masterName: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .default('hastack'),
        quorum: z.number().int().min(1).default(2),
        // 1.5 s: on a LAN a healthy master answers PING in well under a millisecond, so 1.5 s of
        // silence is a dead or frozen process, and it stays above a GC or fsync stall.
        downAfterMs: z.number().int().min(200).default(1500),
        failoverTimeoutMs: z.number().int().min(1000).default(10_000),
        maxmemoryMb: z.number().int().min(8).default(128),
      })
      .strict()
      .default({}),
    memcached: z
      .object({
        memoryMb: z.number().int().min(8).default(64),
        /**
         * Budget of one cache operation in the app's ring client, connect included. 50 ms: far
         * above a healthy memcached reply on loopback or a LAN (well under 1 ms), small next to
         * a page's latency budget; a stalled node costs a request at most this.
         */
        timeoutMs: z.number().int().min(1).max(5_000).default(50),
        /** Consecutive failed operations that eject a node from the ring (2: one lost packet is not an outage). */
        failuresToEject: z.number().int().min(1).max(100).default(2),
        /** First re-probe of an ejected node; doubles up to probeMaxMs. A restarted memcached answers within tens of ms. */
        probeMinMs: z.number().int().min(50).default(500),
        /** Cap of the probe backoff: a long outage costs one probe per this. */
        probeMaxMs: z.number().int().min(50).default(5_000),
      })
      .strict()
      .refine((m) => m.probeMaxMs >= m.probeMinMs, { message: 'probeMaxMs must be at least probeMinMs', path: ['probeMaxMs'] })
      .default({}),
    lb: z
      .object({
        policy: z.enum(['round-robin', 'least-connections', 'p2c']).default('round-robin'),
        healthIntervalMs: z.number().int().min(100).default(1000),
        healthTimeoutMs: z.number().int().min(50).default(500),
        fall: z.number().int().min(1).default(2),
        rise: z.number().int().min(1).default(2),
        retries: z.number().int().min(0).max(10).default(2),
        // The admin port (same address): `/metrics` for Prometheus and `/-/stats` for the
        // dashboard, kept off the traffic port. 8404: the port HAProxy's documentation uses for its
        // Prometheus exporter, so operators look there already. 0: off.
        metricsPort: z.number().int().min(0).max(65535).default(8404),
        // Bounds of one load balancer (src/lb/README.md "Limits"); a bound hit is a 503 with
        // Retry-After, never a crash or an unbounded pile.
        // 4096 client connections: ~4k of the 20k file descriptors a process gets here, beside
        // up to 512 upstream per backend, and ~40 MB of Node connection state at ~10 KB each. A
        // browser opens at most 6 per origin, so that is hundreds of users at once per lb.
        maxConnections: z.number().int().min(1).max(1_000_000).default(4096),
        // 1 MiB per request body (413 beyond): far above the JSON forms and API calls of a
        // business app; bodies are buffered whole so a retry can replay them.
        maxBodyBytes: z
          .number()
          .int()
          .min(1024)
          .default(1024 * 1024),
        // 64 MiB of request bodies buffered at once over all requests: 64 maximal bodies, or
        // thousands of typical forms; bounds the heap bodies can take against a ~100 MB process.
        maxBufferedBodyBytes: z
          .number()
          .int()
          .min(1024)
          .default(64 * 1024 * 1024),
        // 512 connections per backend: bounds file descriptors and the concurrency one app server
        // sees; beyond it requests wait in the backend's queue.
        backendMaxConnections: z.number().int().min(1).max(65_536).default(512),
        // 512 waiting per backend: as many as it runs at once, so a queued request waits at most
        // about one round of the requests ahead of it; beyond, 503 (or another backend).
        backendQueue: z.number().int().min(0).max(1_000_000).default(512),
        // 5 s in that queue at most: half the 10 s retry deadline, so a request that gave up
        // waiting can still be sent to another backend in time; a saturated app that frees no
        // connection in 5 s is better answered 503 + Retry-After than waited on.
        backendQueueTimeoutMs: z.number().int().min(10).default(5_000),
        // 20 s to send the request headers: generous for a slow phone, bounded against slowloris.
        clientHeadersTimeoutMs: z.number().int().min(10).default(20_000),
        // 30 s for the whole request, body included (1 MiB at ~35 KB/s); at least the headers' time.
        clientRequestTimeoutMs: z.number().int().min(10).default(30_000),
        // 65 s idle between requests on a keep-alive connection: longer than common clients'
        // own (undici 4 s, browsers and AWS ALB ~60 s), so a client never sends on a connection we
        // are closing at that instant; idle connections count against maxConnections meanwhile.
        clientIdleTimeoutMs: z.number().int().min(10).default(65_000),
        // 30 s for a client to read any of its response once the load balancer's buffer towards
        // it is full (the same as the upstream body timeout): a slow reader is cut, and its stall
        // is never counted against the backend.
        clientSendTimeoutMs: z.number().int().min(10).default(30_000),
        /** JSON access log: one in this many ordinary requests (errors and retries always); 1 = all, 0 = only those. */
        accessLogEvery: z.number().int().min(0).default(100),
        /**
         * Optional floating address for the load balancers: one holds it, another takes it over
         * after 3 missed heartbeats. On the local substrate a spare loopback address; on hosts a
         * spare address of the load balancers' subnet, moved by keepalived (VRRP).
         */
        vip: ipv4.optional(),
        /**
         * The heartbeat (VRRP advertisement) interval; a peer takes over after ~3 of them. Absent:
         * 500 ms on one machine (takeover after 1.5 s, far above a loopback datagram's jitter), 1000
         * ms on hosts (VRRPv2's least). On hosts with `vrrpVersion: 2` a whole number of seconds
         * (1000..255000); with `vrrpVersion: 3` a multiple of 10 ms (VRRPv3 counts centiseconds).
         * Read it with `vipIntervalMs(config)`.
         */
        vipIntervalMs: z.number().int().min(50).optional(),
        /**
         * `substrate: hosts` only: the VRRP version keepalived speaks. 2 (absent): whole-second
         * adverts, PASS authentication with `secrets.vrrpPassword`. 3: adverts down to 10 ms
         * (sub-second takeover) but no authentication at all (RFC 5798 removed it): the peers
         * are told apart only by their source address (unicast peers, check_unicast_src), so
         * keep VRRP (IP protocol 112) to the load balancers with a firewall (README "Floating address").
         */
        vrrpVersion: z.union([z.literal(2), z.literal(3)]).optional(),
        /** HTTPS on `ports.https` beside HTTP (absent: plain HTTP only). */
        tls: lbTlsSchema.optional(),
      })
      .strict()
      // Node refuses a headers timeout longer than the request timeout.
      .refine((l) => l.clientRequestTimeoutMs >= l.clientHeadersTimeoutMs, {
        message: 'clientRequestTimeoutMs must be at least clientHeadersTimeoutMs',
        path: ['clientRequestTimeoutMs'],
      })
      .refine((l) => l.maxBufferedBodyBytes >= l.maxBodyBytes, { message: 'maxBufferedBodyBytes must be at least maxBodyBytes', path: ['maxBufferedBodyBytes'] })
      .default({}),
    dns: z
      .object({
        // Short, so a client moves off a dead load balancer within a couple of seconds.
        ttlS: z.number().int().min(0).max(3600).default(2),
      })
      .strict()
      .default({}),
    backup: backupSchema,
    failover: z
      .object({
        /** Automatic failover by the supervisor (`runCycle` every second). Off: the operator runs `hastack failover`. */
        auto: z.boolean().default(false),
        // 5 s: MariaDB replicas notice a dead primary within a second (connection refused) and a
        // frozen one within slave_net_timeout (5 s); acting sooner would fail over on a GC pause.
        detectionMs: z.number().int().min(1000).default(5_000),
        // 10 min: after a failover the cluster runs without a replica until the old primary is
        // rebuilt; a second automatic move in that state would only flap between broken nodes.
        antiFlapMs: z.number().int().min(0).default(600_000),
        /** A shell command run after the promotion for an external DNS provider (env: HASTACK_FAILOVER_*). */
        dnsHook: z.string().min(1).optional(),
        /** A shell command run before an automatic failover; a non-zero exit vetoes it. */
        preFailoverHook: z.string().min(1).optional(),
        /**
         * The fence of a machine that is gone (`sh -c`, env HASTACK_FENCE_NODE, HASTACK_FENCE_ADDRESS,
         * HASTACK_CLUSTER): run by the crash plan (and the automatic mode) when the old primary's
         * machine does not answer over SSH, so hastack cannot stop its database itself. It must
         * power the machine off and exit 0 only once the power is confirmed off (IPMI, a cloud API),
         * and be idempotent (a machine already off: exit 0). A non-zero exit or a timeout: nothing is
         * promoted (FENCE_FAILED). It runs on the machine running the plan: the operator's for
         * `hastack failover`, the controller's host for `failover.auto`. Unset: a machine that does
         * not answer blocks the crash plan until the operator confirms it is off (`--machine-off`).
         */
        fence: z.string().min(1).optional(),
        // 60 s: `ipmitool chassis power off` answers in seconds, a cloud API's stop takes 10-40 s to
        // report the instance stopped; beyond a minute the command is stuck, and the plan must not hang.
        fenceTimeoutMs: z.number().int().min(1_000).max(600_000).default(60_000),
        // 30 s: how long the automatic mode retries a failing fence (every 2 s; nothing changed
        // meanwhile: the old primary unfenced, nothing promoted) before it turns itself off and
        // leaves the cluster to the operator. A power API that refused once is absorbed; a
        // credential that is wrong is not fixed by waiting longer.
        fenceRetryMs: z.number().int().min(0).max(3_600_000).default(30_000),
        /**
         * The account the failover's end-to-end check logs in with (`POST /login`) before it writes
         * its test order, for apps whose writes need a session (the example ERP's do).
         */
        verifyLogin: z
          .object({ username: z.string().min(1), password: z.string().min(1) })
          .strict()
          .optional(),
        /**
         * The end-to-end check after a promotion: `{method, path, body?, headers?, expectStatus}`
         * (an HTTP request through a load balancer) or `{command}` (run with the environment
         * contract). Unset: the example ERP's test order for module apps, a GET of app.healthPath
         * answering 2xx/3xx for command apps.
         */
        verify: verifySchema.optional(),
      })
      .strict()
      .default({}),
    endpoints: z
      .object({
        /**
         * Local database and Redis endpoints (`db-endpoint`, `db-read-endpoint`, `redis-endpoint`,
         * src/endpoints) on every node carrying `app` or `worker`, for apps that are not written
         * against the TypeScript contract. Unset: see `endpointsOn`.
         */
        enabled: z.boolean().optional(),
        // 10 s: a Galera writer loss or a replication failover takes 3-10 s here (ENGINE-NOTES);
        // a client that connects meanwhile waits that long rather than failing at once, and no
        // longer than common client connect timeouts (pymysql and the mariadb client: 10 s).
        holdMs: z.number().int().min(0).max(120_000).default(10_000),
        // 5 s behind the writer at most for the read endpoint (replication mode): reads a few
        // seconds old are what a read replica is for; beyond it reads go to a fresher replica or
        // the writer. Measured from GTID positions, no privilege needed (src/endpoints/lag.ts).
        maxReplicaLagS: z.number().min(0).max(3_600).default(5),
        // 1024 client connections per endpoint: one spliced connection costs two sockets, so 2048
        // of the 20k file descriptors a process gets here; far above an app node's pools (a
        // gunicorn or Node app server keeps tens), bounded against a leak.
        maxConnections: z.number().int().min(1).max(100_000).default(1024),
        // 1 h without a byte either way closes the spliced connection: bounds what a leaked client
        // pins; below MariaDB's 8 h wait_timeout and far above any pool's keep-alive ping.
        idleTimeoutS: z.number().int().min(1).max(86_400).default(3_600),
      })
      .strict()
      // HAProxy's server timeout is idleTimeoutS: shorter than the hold, it would close a held connection before the hold ends.
      .refine((e) => e.idleTimeoutS * 1000 >= e.holdMs, { message: 'idleTimeoutS must cover holdMs (a held connection waits that long in silence)', path: ['idleTimeoutS'] })
      .default({}),
    chaos: z
      .object({
        /**
         * What `hastack chaos run` drives and checks: `erp`, the example ERP (logins, orders,
         * items, stock); `records`, the Python example (examples/python: records written under an
         * Idempotency-Key, a job each, reads by id). Either way the same report fields.
         */
        workload: z.enum(['erp', 'records']).default('erp'),
      })
      .strict()
      .default({}),
    supervisor: z
      .object({
        /** Bounded wait for one service to turn healthy at start. */
        healthTimeoutMs: z.number().int().min(1000).default(60_000),
        restartBackoffMinMs: z.number().int().min(10).default(200),
        restartBackoffMaxMs: z.number().int().min(100).default(5_000),
        /** The supervisor's admin API (status, fault injection) listens on `<addressBase>.254:<adminPort>`. */
        adminPort: z.number().int().min(1).max(65535).default(9090),
      })
      .strict()
      .default({}),
  })
  .strict();

/** The config as written in hastack.yaml (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The config after defaults (not yet cross-checked or resolved into a topology). */
export type Config = z.output<typeof configSchema>;
export type NodeConfig = z.output<typeof nodeSchema>;

/**
 * Whether the local endpoints run: `endpoints.enabled`, by default on exactly when the app or the
 * workers are commands (they reach the database and Redis only through the endpoints; a module
 * app uses hastack's own HA clients and needs no extra hop).
 */
export function endpointsOn(config: Pick<Config, 'endpoints' | 'app' | 'worker'>): boolean {
  return config.endpoints.enabled ?? (config.app.command !== undefined || config.worker.command !== undefined);
}

/** `lb.vipIntervalMs`, else 1000 ms on hosts (VRRPv2's least advert interval) and 500 ms on one machine. */
export function vipIntervalMs(config: Pick<Config, 'lb' | 'substrate'>): number {
  return config.lb.vipIntervalMs ?? (config.substrate === 'hosts' ? 1000 : 500);
}

/** `lb.vrrpVersion`, else 2 (keepalived's default, with authentication). */
export function vrrpVersion(config: Pick<Config, 'lb'>): 2 | 3 {
  return config.lb.vrrpVersion ?? 2;
}

/** The HTTPS port of the load balancers: `ports.https`, else 443 on hosts (a real edge) and 8443 on one machine (unprivileged). */
export function httpsPort(config: Pick<Config, 'ports' | 'substrate'>): number {
  return config.ports.https ?? (config.substrate === 'hosts' ? 443 : 8443);
}

/** Whether the cluster's own CA makes the load balancers' certificate: `lb.tls.local`, by default when lb.tls gives neither certificates nor acme (the load check refuses that on hosts). */
export function lbTlsLocal(config: Pick<Config, 'lb'>): boolean {
  const t = config.lb.tls;
  if (t === undefined) return false;
  return t.local ?? (t.certificates === undefined && t.acme === undefined);
}

export function demoDataOn(config: {
  readonly app: { readonly module?: string | undefined; readonly demoData?: boolean | undefined };
  readonly substrate: Config['substrate'];
}): boolean {
  return config.app.demoData ?? config.substrate !== 'hosts';
}

/** The app keys the helpers below read. */
type AppKeys = { readonly app: { readonly command?: string | undefined; readonly healthPath?: string | undefined; readonly readyPort?: number | undefined } };

/** Whether the app is any HTTP server run from `app.command` (else a hastack app module). */
export function isCommandApp(config: AppKeys): boolean {
  return config.app.command !== undefined;
}

/** The path the supervisor probes on an app server: `app.healthPath`, else `/healthz` (module) or `/` (command). */
export function appHealthPath(config: AppKeys): string {
  return config.app.healthPath ?? (isCommandApp(config) ? '/' : '/healthz');
}

/**
 * The path asked on an app server's own port to tell whether its process answers at all (the
 * load balancers' stall watch): a module app's `/readyz`, a command app's health path. Whether to
 * send it requests is `appReadiness`.
 */
export function appReadyPath(config: AppKeys): string {
  return isCommandApp(config) ? appHealthPath(config) : '/readyz';
}

/** The path hastack's drain signal answers on: a module app's own, a command app's readiness port (`appReadiness`). */
export const READY_PATH = '/readyz';

/**
 * Where the load balancers ask an app server whether to send it requests: a module app's
 * `/readyz` on its own port; a command app's `/readyz` on its readiness port (`app.readyPort`,
 * default the app's port + 1), answered by hastack's process around the command, which turns it
 * 503 while it drains the server before stopping it (src/app/command.ts).
 */
export function appReadiness(config: AppKeys, appPort: number): { port: number; path: string } {
  return isCommandApp(config) ? { port: commandReadyPort(config, appPort), path: READY_PATH } : { port: appPort, path: READY_PATH };
}

/**
 * Whether a service's stop signal goes to its main process only (then SIGKILL to the whole group
 * after the grace), rather than to its whole process group at once: a command app's app servers,
 * whose hastack process drains the command (src/app/command.ts) before it stops it; a group
 * SIGTERM would stop the command before the load balancers knew. systemd's KillMode=mixed.
 */
export function stopsMainFirst(config: AppKeys, kind: string): boolean {
  return kind === 'app' && isCommandApp(config);
}

/** A command app's readiness port on a node whose app listens on `appPort`. */
export function commandReadyPort(config: AppKeys, appPort: number): number {
  return config.app.readyPort ?? appPort + 1;
}
