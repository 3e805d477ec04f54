import crypto from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import type { Db } from '../../clients/db/index.js';
import { EDGE_SCHEMA } from '../../engines/index.js';
import { open, seal } from './seal.js';

/**
 * The ACME state every load balancer shares, in the cluster's database (schema `hastack_edge`,
 * made by the database's bootstrap: src/engines/mariadb-edge.ts). Reached through the database
 * router as the `hastack_edge` account, so it follows a failover like the app does. Private keys
 * are sealed (seal.ts) before they leave the process. See README.md for why here. Sessions are
 * UTC (the router sets `time_zone` and mysql2's `timezone: 'Z'`), so DATETIME columns are UTC.
 */

/** Bounds of one statement: a store that does not answer in 5 s is treated as down (the loop retries). */
const STMT_TIMEOUT_MS = 5_000;
const T = (name: string): string => `${EDGE_SCHEMA}.${name}`;

/** The certificate's names in one canonical form (lower case, sorted, unique), and its row id. Pure. */
export function namesKey(names: readonly string[]): { names: string; hash: string } {
  const canon = [...new Set(names.map((n) => n.toLowerCase()))].sort().join(',');
  return { names: canon, hash: crypto.createHash('sha256').update(canon).digest('hex') };
}

export interface CertMeta {
  readonly version: number;
  readonly notAfter: Date;
  readonly serial: string;
}

export interface StoredCert extends CertMeta {
  readonly certPem: string;
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly issuedBy: string;
}

/** What one certificate PEM says about itself. Pure. */
export function describeCert(certPem: string): { serial: string; notBefore: Date; notAfter: Date } {
  const x = new X509Certificate(certPem);
  return { serial: x.serialNumber, notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo) };
}

export interface LeaseGrant {
  /** Failed orders in a row before this one (the shared backoff's count). */
  readonly failures: number;
}

export interface LbAcmeStatus {
  readonly lb: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly updatedAt: Date;
}

export class AcmeStore {
  constructor(
    private readonly db: Db,
    private readonly key: Buffer,
  ) {}

  async challenge(token: string): Promise<string | undefined> {
    const r = await this.db.query<{ k: string }>(`SELECT key_authorization AS k FROM ${T('acme_challenges')} WHERE token = ?`, [token], { timeoutMs: STMT_TIMEOUT_MS });
    return r[0]?.k;
  }

  async putChallenge(token: string, keyAuthorization: string): Promise<void> {
    await this.db.execute(`REPLACE INTO ${T('acme_challenges')} (token, key_authorization) VALUES (?, ?)`, [token, keyAuthorization], {
      idempotent: true,
      timeoutMs: STMT_TIMEOUT_MS,
    });
  }

  async deleteChallenge(token: string): Promise<void> {
    // Old tokens too: an order that died mid-way leaves its own (answering them is harmless, they
    // are useless without the account key, but they should not pile up).
    await this.db.execute(`DELETE FROM ${T('acme_challenges')} WHERE token = ? OR created_at < NOW() - INTERVAL 1 DAY`, [token], { idempotent: true, timeoutMs: STMT_TIMEOUT_MS });
  }

  async certMeta(hash: string): Promise<CertMeta | undefined> {
    const r = await this.db.query<{ version: number | string; not_after: Date; serial: string }>(
      `SELECT version, not_after, serial FROM ${T('acme_certificates')} WHERE names_hash = ?`,
      [hash],
      { timeoutMs: STMT_TIMEOUT_MS },
    );
    const row = r[0];
    return row === undefined ? undefined : { version: Number(row.version), notAfter: row.not_after, serial: row.serial };
  }

  async readCert(hash: string): Promise<StoredCert | undefined> {
    const r = await this.db.query<{ version: number | string; cert_pem: string; key_sealed: Buffer; serial: string; not_before: Date; not_after: Date; issued_by: string }>(
      `SELECT version, cert_pem, key_sealed, serial, not_before, not_after, issued_by FROM ${T('acme_certificates')} WHERE names_hash = ?`,
      [hash],
      { timeoutMs: STMT_TIMEOUT_MS },
    );
    const row = r[0];
    if (row === undefined) return undefined;
    return {
      version: Number(row.version),
      certPem: row.cert_pem,
      keyPem: open(this.key, row.key_sealed, `acme_certificates/${hash}`),
      serial: row.serial,
      notBefore: row.not_before,
      notAfter: row.not_after,
      issuedBy: row.issued_by,
    };
  }

  /** Stores a new certificate as the next version (the loops of every load balancer install it on their next poll). */
  async writeCert(names: string, hash: string, certPem: string, keyPem: string, issuedBy: string): Promise<CertMeta> {
    const d = describeCert(certPem);
    const sealed = seal(this.key, keyPem, `acme_certificates/${hash}`);
    await this.db.execute(
      `INSERT INTO ${T('acme_certificates')} (names, names_hash, cert_pem, key_sealed, serial, not_before, not_after, issued_by, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
       ON DUPLICATE KEY UPDATE cert_pem = VALUES(cert_pem), key_sealed = VALUES(key_sealed), serial = VALUES(serial),
         not_before = VALUES(not_before), not_after = VALUES(not_after), issued_by = VALUES(issued_by), version = version + 1`,
      [names, hash, certPem, sealed, d.serial, d.notBefore, d.notAfter, issuedBy],
      { timeoutMs: STMT_TIMEOUT_MS },
    );
    const meta = await this.certMeta(hash);
    return meta ?? { version: 1, notAfter: d.notAfter, serial: d.serial };
  }

  async accountKey(id: string): Promise<string | undefined> {
    const r = await this.db.query<{ k: Buffer }>(`SELECT key_sealed AS k FROM ${T('acme_accounts')} WHERE id = ?`, [id], { timeoutMs: STMT_TIMEOUT_MS });
    return r[0] === undefined ? undefined : open(this.key, r[0].k, `acme_accounts/${id}`);
  }

  async putAccountKey(id: string, keyPem: string): Promise<void> {
    await this.db.execute(`REPLACE INTO ${T('acme_accounts')} (id, key_sealed) VALUES (?, ?)`, [id, seal(this.key, keyPem, `acme_accounts/${id}`)], {
      idempotent: true,
      timeoutMs: STMT_TIMEOUT_MS,
    });
  }

  /**
   * Takes the order lease `id` for `ttlS` seconds when it is free or expired (database time: the
   * load balancers' clocks never decide), or extends it when `holder` has it. Undefined: another
   * holds it. Safe to run twice (conditional), so a lost connection is retried.
   */
  async tryLease(id: string, holder: string, ttlS: number): Promise<LeaseGrant | undefined> {
    // A read first: while another holds it (an order, or the cluster's backoff), the load
    // balancers polling every 2 s only read, never write.
    const held = await this.db.query<{ holder: string; live: number }>(`SELECT holder, expires_at >= NOW(3) AS live FROM ${T('acme_lease')} WHERE id = ?`, [id], {
      timeoutMs: STMT_TIMEOUT_MS,
    });
    if (held[0] !== undefined && held[0].holder !== holder && Number(held[0].live) === 1) return undefined;
    // MariaDB applies the assignments left to right: `holder` is decided first, and the expiry
    // moves only when it is (now) ours.
    await this.db.execute(
      `INSERT INTO ${T('acme_lease')} (id, holder, expires_at, failures) VALUES (?, ?, NOW(3) + INTERVAL ? SECOND, 0)
       ON DUPLICATE KEY UPDATE holder = IF(expires_at < NOW(3) OR holder = VALUES(holder), VALUES(holder), holder),
         expires_at = IF(holder = VALUES(holder), VALUES(expires_at), expires_at)`,
      [id, holder, ttlS],
      { idempotent: true, timeoutMs: STMT_TIMEOUT_MS },
    );
    const r = await this.db.query<{ holder: string; failures: number }>(`SELECT holder, failures FROM ${T('acme_lease')} WHERE id = ?`, [id], { timeoutMs: STMT_TIMEOUT_MS });
    return r[0]?.holder === holder ? { failures: Number(r[0].failures) } : undefined;
  }

  /** The order succeeded: the lease goes, and with it the failure count. */
  async releaseLease(id: string, holder: string): Promise<void> {
    await this.db.execute(`DELETE FROM ${T('acme_lease')} WHERE id = ? AND holder = ?`, [id, holder], { idempotent: true, timeoutMs: STMT_TIMEOUT_MS });
  }

  /**
   * The order failed: the lease is kept until the backoff ends, so no load balancer of the
   * cluster asks the CA again before then (the backoff is the cluster's, not each process's).
   */
  async holdLeaseAfterFailure(id: string, holder: string, backoffS: number): Promise<void> {
    await this.db.execute(`UPDATE ${T('acme_lease')} SET failures = failures + 1, expires_at = NOW(3) + INTERVAL ? SECOND WHERE id = ? AND holder = ?`, [backoffS, id, holder], {
      timeoutMs: STMT_TIMEOUT_MS,
    });
  }

  async reportStatus(lb: string, ok: boolean, detail: string): Promise<void> {
    await this.db.execute(`REPLACE INTO ${T('acme_status')} (lb, ok, detail, updated_at) VALUES (?, ?, ?, NOW(3))`, [lb, ok ? 1 : 0, detail.slice(0, 1024)], {
      idempotent: true,
      timeoutMs: STMT_TIMEOUT_MS,
    });
  }
}
