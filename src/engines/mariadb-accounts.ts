import type { Connection } from 'mysql2/promise';
import type { Secrets, Topology } from '../config/index.js';
import { substrateTraits } from '../config/index.js';
import { databaseTlsOn } from './tls.js';
import { ADMIN_TIMEOUT_MS, DB_USERS, localOnly, rows, run } from './mariadb-admin.js';
import { bootstrapEdge } from './mariadb-edge.js';

/** Accounts: root's local accounts, the app, repl and admin users (the admin only from the cluster's addresses). */

/** An account host the server matches under skip-name-resolve: localhost, an address or a pattern of one. Pure. */
export function isAddressHost(host: string): boolean {
  return host === 'localhost' || host.includes(':') || /^[\d.%_/]+$/.test(host);
}

/** Root on every usable host entry gets the cluster password; the rest go. Per node: never binlogged nor replicated (`localOnly`). */
export async function secureLocalAccounts(c: Connection, rootPassword: string): Promise<void> {
  await localOnly(c, async () => {
    for (const r of await rows(c, "SELECT User AS u, Host AS h FROM mysql.user WHERE User IN ('root', '')")) {
      const user = String(r['u']);
      const host = String(r['h']);
      // root@127.0.0.1 matters: on loopback every local TCP client arrives from 127.0.0.1.
      if (user === 'root' && isAddressHost(host)) await run(c, 'ALTER USER ?@? IDENTIFIED BY ?', [user, host, rootPassword]);
      // Anonymous users, and root@<machine name> that mariadb-install-db adds: with
      // skip-name-resolve the server ignores name entries, and ALTER USER on one fails (ER_CANNOT_USER).
      else await run(c, 'DROP USER ?@?', [user, host]);
    }
  });
}

async function hasGlobalPrivilege(c: Connection, user: string, privilege: string, host = '%'): Promise<boolean> {
  const r = await rows(c, 'SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ? AND PRIVILEGE_TYPE = ?', [`'${user}'@'${host}'`, privilege]);
  return r.length > 0;
}

async function ensureUser(c: Connection, user: string, password: string, writeMs: number, requireX509 = false, host = '%'): Promise<void> {
  const r = await rows(c, 'SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [user, host]);
  if (r.length === 0) await run(c, `CREATE USER ?@? IDENTIFIED BY ?${requireX509 ? ' REQUIRE X509' : ''}`, [user, host, password], writeMs);
}

/**
 * The host parts of the database admin account: the cluster's nodes, this machine's loopback (on
 * the local substrate every client arrives from 127.0.0.1), the netns bridge's host side (the
 * supervisor and the CLI), and `database.adminFrom`. Never `%`: the admin password alone must not
 * open the database to the network. Pure.
 */
export function adminHosts(topo: Topology): string[] {
  const hosts = new Set<string>(['localhost', '127.0.0.1', '::1']);
  for (const n of topo.nodes) hosts.add(n.address);
  const hostSide = substrateTraits(topo.config).hostSideAddress;
  if (hostSide !== undefined) hosts.add(hostSide);
  for (const a of topo.config.database.adminFrom) hosts.add(a);
  return [...hosts];
}

/** Every host entry of the admin account (for a password change: all of them at once). */
export async function adminAccountHosts(c: Connection): Promise<string[]> {
  return (await rows(c, 'SELECT Host AS h FROM mysql.user WHERE User = ?', [DB_USERS.admin])).map((r) => String(r['h']));
}

/**
 * Creates the database and users on the primary. Binlogged, so the replicas get them too. Writes
 * only what is missing: at a later `up` the primary boots with semi-sync on before its replicas
 * start, and any write there would wait the semi-sync timeout.
 */
export async function bootstrapPrimary(c: Connection, topo: Topology, secrets: Secrets): Promise<void> {
  const db = topo.config.database.name;
  // A binlogged write may wait up to the semi-sync timeout for a replica that is not up yet.
  const writeMs = topo.config.database.semiSyncTimeoutMs + ADMIN_TIMEOUT_MS;
  const write = (sql: string, values: unknown[]): Promise<void> => run(c, sql, values, writeMs);
  const schema = await rows(c, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]);
  if (schema.length === 0) await write('CREATE DATABASE IF NOT EXISTS ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [db]);

  // The app user: everything on its database, nothing global, so read_only applies to it.
  await ensureUser(c, DB_USERS.app, secrets.dbAppPassword, writeMs);
  const appGrant = await rows(c, "SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = ? AND PRIVILEGE_TYPE = 'INSERT'", [
    `'${DB_USERS.app}'@'%'`,
    db,
  ]);
  if (appGrant.length === 0) await write("GRANT ALL PRIVILEGES ON ??.* TO ?@'%'", [db, DB_USERS.app]);
  // SLAVE MONITOR (SHOW SLAVE STATUS) lets the app's db router skip a replica whose replication
  // stopped. It only reads status: it neither bypasses read_only (that takes SUPER or READ_ONLY
  // ADMIN) nor administers anything.
  if (!(await hasGlobalPrivilege(c, DB_USERS.app, 'SLAVE MONITOR'))) await write("GRANT SLAVE MONITOR ON *.* TO ?@'%'", [DB_USERS.app]);

  // Replication: read the binlog (REPLICATION SLAVE) and see positions (REPLICATION CLIENT, called
  // BINLOG MONITOR since 10.5). Semi-sync needs nothing more: the replica asks for it on connect.
  // database.tls: a replica must show a certificate of the cluster's CA (REQUIRE X509), set when
  // the user is made. Never added to an existing user: replicas attached without TLS would be
  // refused on their next reconnect, before their own restart moves them to TLS.
  await ensureUser(c, DB_USERS.repl, secrets.dbReplPassword, writeMs, databaseTlsOn(topo));
  if (!(await hasGlobalPrivilege(c, DB_USERS.repl, 'REPLICATION SLAVE'))) {
    await write("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ?@'%'", [DB_USERS.repl]);
  }

  // The controller's TCP account (root is socket-only per node): failover, status, backups. One
  // entry per address it may come from (adminHosts), none for the rest of the network; entries
  // no longer wanted (a node gone, the '%' of older releases) go.
  const wanted = adminHosts(topo);
  for (const host of wanted) {
    await ensureUser(c, DB_USERS.admin, secrets.dbRootPassword, writeMs, false, host);
    if (!(await hasGlobalPrivilege(c, DB_USERS.admin, 'SUPER', host))) await write('GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', [DB_USERS.admin, host]);
  }
  for (const host of await adminAccountHosts(c)) if (!wanted.includes(host)) await write('DROP USER ?@?', [DB_USERS.admin, host]);

  // The load balancers' schema and account (ACME state, src/lb/acme).
  await bootstrapEdge(c, topo, secrets, write);
}
