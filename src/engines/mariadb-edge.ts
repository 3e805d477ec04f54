import type { Connection } from 'mysql2/promise';
import { servicesOf, substrateTraits, type Secrets, type Topology } from '../config/index.js';
import { DB_USERS, rows } from './mariadb-admin.js';

/**
 * The load balancers' own schema: the shared ACME state (src/lb/acme/README.md says why it lives
 * in the database). Owned by hastack, apart from the app's database so the app's migrations and
 * account never see it; the load balancers reach it with their own account, limited to it.
 */
export const EDGE_SCHEMA = 'hastack_edge';

/** The tables and their DDL (InnoDB with primary keys: Galera replicates only those). */
export const EDGE_TABLES = {
  /** HTTP-01 answers while an order runs: whichever load balancer the ACME server reaches serves them. */
  acme_challenges: `CREATE TABLE IF NOT EXISTS hastack_edge.acme_challenges (
    token VARCHAR(128) NOT NULL PRIMARY KEY,
    key_authorization VARCHAR(512) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
  ) ENGINE=InnoDB`,
  /** The current certificate per set of names: chain in clear, private key sealed (AES-256-GCM). */
  acme_certificates: `CREATE TABLE IF NOT EXISTS hastack_edge.acme_certificates (
    names VARCHAR(1024) NOT NULL,
    names_hash CHAR(64) NOT NULL PRIMARY KEY,
    cert_pem MEDIUMTEXT NOT NULL,
    key_sealed BLOB NOT NULL,
    serial VARCHAR(80) NOT NULL,
    not_before DATETIME NOT NULL,
    not_after DATETIME NOT NULL,
    issued_by VARCHAR(255) NOT NULL,
    version BIGINT NOT NULL
  ) ENGINE=InnoDB`,
  /** The ACME account per directory and email (its key sealed like the certificate's). */
  acme_accounts: `CREATE TABLE IF NOT EXISTS hastack_edge.acme_accounts (
    id CHAR(64) NOT NULL PRIMARY KEY,
    key_sealed BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
  ) ENGINE=InnoDB`,
  /** One row per order in progress: who runs it and until when (database time, so clocks between load balancers do not matter). */
  acme_lease: `CREATE TABLE IF NOT EXISTS hastack_edge.acme_lease (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    holder VARCHAR(255) NOT NULL,
    expires_at DATETIME(3) NOT NULL,
    failures INT NOT NULL DEFAULT 0
  ) ENGINE=InnoDB`,
  /** The last outcome of each load balancer's renewal loop: what status and the dashboard show. */
  acme_status: `CREATE TABLE IF NOT EXISTS hastack_edge.acme_status (
    lb VARCHAR(255) NOT NULL PRIMARY KEY,
    ok TINYINT NOT NULL,
    detail VARCHAR(1024) NOT NULL,
    updated_at DATETIME(3) NOT NULL
  ) ENGINE=InnoDB`,
} as const;

/**
 * Where the load balancers connect from: their addresses, and 127.0.0.1 when every node shares
 * this machine's loopback (local: a loopback client arrives from 127.0.0.1 whatever its node's
 * address). Never `%`. Pure.
 */
export function edgeHosts(topo: Topology): string[] {
  const hosts = new Set(servicesOf(topo, 'lb').map((s) => s.address));
  if (substrateTraits(topo.config).sharedLoopback) hosts.add('127.0.0.1');
  return [...hosts];
}

/**
 * The schema, its tables and the load balancers' account (`hastack_edge`@each of edgeHosts: SELECT,
 * INSERT, UPDATE, DELETE on that schema only, plus SLAVE MONITOR, which the database router's discovery reads
 * replication status with). Runs on the primary with bootstrapPrimary, writes only what is
 * missing (a write there may wait the semi-sync timeout). Skipped for a cluster without load
 * balancers or without `lbDbPassword` (a secrets.json from before it; `up`/`deploy` adds it); without
 * `lb.tls.acme` only the account is dropped if an earlier config made it (the schema stays: it may hold a certificate).
 */
export async function bootstrapEdge(c: Connection, topo: Topology, secrets: Secrets, write: (sql: string, values: unknown[]) => Promise<void>): Promise<void> {
  const password = secrets.lbDbPassword;
  if (password === undefined || servicesOf(topo, 'lb').length === 0) return;
  // Without lb.tls.acme no load balancer logs in: no account (one an earlier config made goes).
  if (topo.config.lb.tls?.acme === undefined) {
    for (const r of await rows(c, 'SELECT Host AS h FROM mysql.user WHERE User = ?', [DB_USERS.edge])) await write('DROP USER ?@?', [DB_USERS.edge, String(r['h'])]);
    return;
  }
  if ((await rows(c, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [EDGE_SCHEMA])).length === 0) {
    await write(`CREATE DATABASE IF NOT EXISTS ${EDGE_SCHEMA} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`, []);
  }
  const have = new Set((await rows(c, 'SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [EDGE_SCHEMA])).map((r) => String(r['t'])));
  for (const [name, ddl] of Object.entries(EDGE_TABLES)) if (!have.has(name)) await write(ddl, []);
  // One entry per address a load balancer connects from (edgeHosts), none for the rest of the
  // network; entries no longer wanted (a load balancer gone) go.
  const wanted = edgeHosts(topo);
  for (const host of wanted) {
    if ((await rows(c, 'SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [DB_USERS.edge, host])).length === 0) {
      await write('CREATE USER ?@? IDENTIFIED BY ?', [DB_USERS.edge, host, password]);
    }
    const grantee = `'${DB_USERS.edge}'@'${host}'`;
    const granted = await rows(c, "SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = ? AND PRIVILEGE_TYPE = 'DELETE'", [
      grantee,
      EDGE_SCHEMA,
    ]);
    if (granted.length === 0) await write(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${EDGE_SCHEMA}.* TO ?@?`, [DB_USERS.edge, host]);
    const monitor = await rows(c, "SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ? AND PRIVILEGE_TYPE = 'SLAVE MONITOR'", [grantee]);
    if (monitor.length === 0) await write('GRANT SLAVE MONITOR ON *.* TO ?@?', [DB_USERS.edge, host]);
  }
  for (const r of await rows(c, 'SELECT Host AS h FROM mysql.user WHERE User = ?', [DB_USERS.edge])) {
    const host = String(r['h']);
    if (!wanted.includes(host)) await write('DROP USER ?@?', [DB_USERS.edge, host]);
  }
}
