import type { Redis } from 'ioredis';
import type { Connection } from 'mysql2/promise';
import { heldSecrets, type ServiceInstance } from '../config/index.js';
import { adminAccountHosts, adminConnection, closeConnection, DB_USERS, isAddressHost, localOnly, rows, secureLocalAccounts } from './mariadb.js';
import { isRedisAuthError, mysqlErrno, MYSQL_ACCESS_DENIED } from '../shared/engine-errors.js';
import { withRedis } from './redis-client.js';
import type { ServiceContext } from '../registry/index.js';

/**
 * Changing one engine password on a running server, each call idempotent (a rotation interrupted
 * half way is run again from its journal). Every call takes the passwords that may be in force
 * (the new one first, then the old one): after an interruption the server may hold either.
 * Redis and Sentinel hold the old and the new password side by side while clients move over
 * (ACL: a user can have several); MariaDB accounts likewise, through an authentication chain of
 * two password hashes (ALTER USER on the primary, replicated to every node).
 */

/** Admin commands on loopback or a LAN answer in ms; 5 s tolerates a busy 2-core machine. */
const TIMEOUT_MS = 5_000;

/** Refused credentials: a Redis WRONGPASS/NOAUTH reply, or MariaDB's access denied. */
function isAuthError(e: unknown): boolean {
  return isRedisAuthError(e) || mysqlErrno(e) === MYSQL_ACCESS_DENIED;
}

/** Runs `fn` logged in with the first of `passwords` the server takes. */
async function withRedisAny<T>(svc: ServiceInstance, passwords: readonly string[], fn: (r: Redis) => Promise<T>): Promise<T> {
  let last: unknown;
  for (const password of passwords) {
    try {
      return await withRedis({ host: svc.address, port: svc.port, password }, TIMEOUT_MS, fn);
    } catch (e) {
      if (!isAuthError(e)) throw e;
      last = e;
    }
  }
  throw last instanceof Error ? last : new Error(`${svc.id}: none of the passwords was accepted`);
}

/** Step 1 on a Redis server: the new password accepted beside the old (persisted: a restart keeps both). */
export async function redisAcceptPassword(svc: ServiceInstance, next: string, old: string): Promise<void> {
  await withRedisAny(svc, [next, old], async (r) => {
    await r.call('ACL', 'SETUSER', 'default', `>${next}`);
    await r.call('CONFIG', 'REWRITE');
  });
}

/**
 * Step 2, once every server takes the new password: this server sends it when it (re)connects to
 * a master (masterauth).
 */
export async function redisUsePassword(svc: ServiceInstance, next: string, old: string): Promise<void> {
  await withRedisAny(svc, [next, old], async (r) => {
    await r.call('CONFIG', 'SET', 'masterauth', next);
    await r.call('CONFIG', 'REWRITE');
  });
}

/** Last step on a Redis server: only the new password (requirepass resets the others), persisted. */
export async function redisDropOldPassword(svc: ServiceInstance, next: string, old: string): Promise<void> {
  await withRedisAny(svc, [next, old], async (r) => {
    await r.call('CONFIG', 'SET', 'requirepass', next);
    await r.call('CONFIG', 'SET', 'masterauth', next);
    await r.call('CONFIG', 'REWRITE');
  });
}

/** A Sentinel authenticates to the Redis servers with `redisPassword` (auth-pass, persisted by Sentinel). */
export async function sentinelSetAuthPass(svc: ServiceInstance, sentinelPasswords: readonly string[], masterName: string, redisPassword: string): Promise<void> {
  await withRedisAny(svc, sentinelPasswords, async (r) => {
    await r.call('SENTINEL', 'SET', masterName, 'auth-pass', redisPassword);
  });
}

/** Step 1 on a Sentinel: the new password accepted beside the old. */
export async function sentinelAcceptPassword(svc: ServiceInstance, next: string, old: string): Promise<void> {
  await withRedisAny(svc, [next, old], async (r) => {
    await r.call('ACL', 'SETUSER', 'default', `>${next}`);
    await r.call('SENTINEL', 'FLUSHCONFIG');
  });
}

/** Step 2, once every Sentinel takes it: the password this Sentinel sends to the others. */
export async function sentinelUsePassword(svc: ServiceInstance, next: string, old: string): Promise<void> {
  await withRedisAny(svc, [next, old], async (r) => {
    await r.call('SENTINEL', 'CONFIG', 'SET', 'sentinel-pass', next);
    await r.call('SENTINEL', 'FLUSHCONFIG');
  });
}

/** Last step on a Sentinel: only the new password, persisted (its `user default` line wins over requirepass at start). */
export async function sentinelDropOldPassword(svc: ServiceInstance, next: string, old: string): Promise<void> {
  await withRedisAny(svc, [next, old], async (r) => {
    await r.call('ACL', 'SETUSER', 'default', 'resetpass', `>${next}`);
    await r.call('SENTINEL', 'FLUSHCONFIG');
  });
}

/** Root over the node's unix socket with the first root password that works. */
export async function rootConnection(ctx: ServiceContext, rootPasswords: readonly string[]): Promise<Connection> {
  let last: unknown;
  for (const pw of rootPasswords) {
    try {
      return await adminConnection({ ...ctx, secrets: heldSecrets({ dbRootPassword: pw }, 'rotation') }, TIMEOUT_MS);
    } catch (e) {
      if (!isAuthError(e)) throw e;
      last = e;
    }
  }
  throw last instanceof Error ? last : new Error(`${ctx.svc.id}: no root password was accepted`);
}

export async function withRoot<T>(ctx: ServiceContext, rootPasswords: readonly string[], fn: (c: Connection) => Promise<T>): Promise<T> {
  const c = await rootConnection(ctx, rootPasswords);
  try {
    return await fn(c);
  } finally {
    await closeConnection(c);
  }
}

/** Whether this server takes writes (the replication primary; any Galera node). */
export async function isWritable(c: Connection): Promise<boolean> {
  const [r] = await rows(c, 'SELECT @@read_only AS ro');
  return Number(r?.['ro']) === 0;
}

/**
 * `IDENTIFIED ...` for one or two passwords. Two: an authentication chain (MariaDB 10.4+) of the
 * same plugin with each password's hash; the server tries one, then the other, so old and new
 * both log in while the clients move over (checked with the mariadb client and mysql2).
 */
function identified(passwords: readonly string[]): { sql: string; values: string[] } {
  const uniq = [...new Set(passwords)];
  if (uniq.length === 1) return { sql: 'IDENTIFIED BY ?', values: uniq };
  return { sql: `IDENTIFIED VIA ${uniq.map(() => 'mysql_native_password USING PASSWORD(?)').join(' OR ')}`, values: uniq };
}

/**
 * On the primary: the account's every host entry logs in with `passwords` (the new one first;
 * two while the clients move over, then the new one alone), binlogged (and in Galera
 * replicated), so every node has it once it applied the statement. `writeMs` bounds a write
 * that waits for a semi-sync replica's acknowledgement.
 */
export async function alterAccount(c: Connection, user: string, passwords: readonly string[], writeMs: number): Promise<void> {
  const hosts = user === DB_USERS.admin ? await adminAccountHosts(c) : (await rows(c, 'SELECT Host AS h FROM mysql.user WHERE User = ?', [user])).map((r) => String(r['h']));
  const id = identified(passwords);
  for (const host of hosts) await c.query({ sql: `ALTER USER ?@? ${id.sql}`, values: [user, host, ...id.values], timeout: writeMs });
}

/** On one node: root's local entries (per node, never binlogged nor replicated: see secureLocalAccounts). */
export async function alterLocalRoot(c: Connection, passwords: readonly string[]): Promise<void> {
  const id = identified(passwords);
  if (id.values.length === 1) {
    await secureLocalAccounts(c, id.values[0] as string);
    return;
  }
  await localOnly(c, async () => {
    for (const r of await rows(c, "SELECT Host AS h FROM mysql.user WHERE User = 'root'")) {
      const host = String(r['h']);
      if (isAddressHost(host)) await c.query({ sql: `ALTER USER 'root'@? ${id.sql}`, values: [host, ...id.values], timeout: TIMEOUT_MS });
    }
  });
}

/** On a replica: the replication password it logs in to its primary with (replication restarted). */
export async function setReplicationPassword(c: Connection, password: string): Promise<boolean> {
  const slave = await rows(c, 'SHOW SLAVE STATUS');
  if (slave.length === 0) return false;
  await c.query({ sql: 'STOP SLAVE', timeout: TIMEOUT_MS });
  try {
    await c.query({ sql: 'CHANGE MASTER TO MASTER_PASSWORD = ?', values: [password], timeout: TIMEOUT_MS });
  } finally {
    await c.query({ sql: 'START SLAVE', timeout: TIMEOUT_MS });
  }
  return true;
}
