/**
 * What `hastack audit` reports. A finding has a stable code (scripts and CI match on it), where it
 * is (`node/service`, a node, a file or `cluster`), what is wrong and what to do. `info` lines say
 * what was not checked or is by design on this substrate; only `finding`s fail the audit.
 */
export const AuditCode = {
  /** A service listens on 0.0.0.0 or `::`: every network of the machine reaches it. */
  BIND_WILDCARD: 'BIND_WILDCARD',
  /** A service listens on an address that is not its node's. */
  BIND_FOREIGN: 'BIND_FOREIGN',
  /** The admin API / dashboard listens off loopback and off the configured admin network. */
  ADMIN_BIND: 'ADMIN_BIND',
  /** On hosts, a service process runs as root. */
  RUNS_AS_ROOT: 'RUNS_AS_ROOT',
  /** A secret file (secrets.json, admin-token, a private key) is readable or writable by others. */
  SECRET_FILE_MODE: 'SECRET_FILE_MODE',
  /** A secret file is owned by a user other than the one that should own it. */
  SECRET_FILE_OWNER: 'SECRET_FILE_OWNER',
  /** A world-readable file holds one of the cluster's passwords. */
  SECRET_WORLD_READABLE: 'SECRET_WORLD_READABLE',
  /** A state directory anyone may write into. */
  DIR_WORLD_WRITABLE: 'DIR_WORLD_WRITABLE',
  /** The controller's key in authorized_keys lacks `restrict`, `command=` or `from=`. */
  KEY_UNRESTRICTED: 'KEY_UNRESTRICTED',
  /** The admin API changed state, or accepted one, without the token. */
  ADMIN_NO_TOKEN: 'ADMIN_NO_TOKEN',
  /** The admin API answered a cross-origin or foreign-Host request. */
  ADMIN_CROSS_ORIGIN: 'ADMIN_CROSS_ORIGIN',
  /** Redis or Sentinel answered a command without a password. */
  REDIS_NO_AUTH: 'REDIS_NO_AUTH',
  /** MariaDB let root or an anonymous user in without a password. */
  DB_NO_AUTH: 'DB_NO_AUTH',
  /** memcached (no authentication) answered this machine, which is not a cluster node. */
  MEMCACHED_REACHABLE: 'MEMCACHED_REACHABLE',
  /** Redis or Sentinel answered this machine, which is not a cluster node (on hosts their ports are for the cluster only). */
  REDIS_REACHABLE: 'REDIS_REACHABLE',
  /** A MariaDB account's host is a wildcard (`%`, `10.0.%`, a netmask): any machine it matches may try its password. */
  DB_ACCOUNT_WILDCARD: 'DB_ACCOUNT_WILDCARD',
  /** A MariaDB account names an address that is neither a cluster node's nor in `database.adminFrom`. */
  DB_ACCOUNT_FOREIGN_HOST: 'DB_ACCOUNT_FOREIGN_HOST',
  /** A node's secrets.json holds a secret none of its services (nor the controller's, the backup's role) needs. */
  SECRET_NOT_NEEDED: 'SECRET_NOT_NEEDED',
  /** A check could not run (a host unreachable, a file unreadable): the audit cannot say it passed. */
  AUDIT_INCOMPLETE: 'AUDIT_INCOMPLETE',
  /** Informational: not a finding. */
  INFO: 'INFO',
} as const;
export type AuditCode = (typeof AuditCode)[keyof typeof AuditCode];

export type Severity = 'finding' | 'info';

export interface Finding {
  readonly code: AuditCode;
  readonly severity: Severity;
  /** `node/service`, a node name, a path, or `cluster`. */
  readonly where: string;
  readonly message: string;
  /** What to do about it (empty for info). */
  readonly fix: string;
}

export function finding(code: AuditCode, where: string, message: string, fix: string): Finding {
  return { code, severity: 'finding', where, message, fix };
}

export function info(where: string, message: string): Finding {
  return { code: AuditCode.INFO, severity: 'info', where, message, fix: '' };
}

/** 1 when anything is a finding, else 0. */
export function auditExitCode(findings: readonly Finding[]): 0 | 1 {
  return findings.some((f) => f.severity === 'finding') ? 1 : 0;
}

/** Lines for the terminal: findings first (code, where, what, fix), then info, then the verdict. */
export function formatFindings(findings: readonly Finding[]): string[] {
  const bad = findings.filter((f) => f.severity === 'finding');
  const notes = findings.filter((f) => f.severity === 'info');
  const lines: string[] = [];
  for (const f of bad) lines.push(`FINDING ${f.code} ${f.where}: ${f.message}`, `        fix: ${f.fix}`);
  for (const f of notes) lines.push(`info    ${f.where}: ${f.message}`);
  lines.push(bad.length === 0 ? 'audit: no findings' : `audit: ${bad.length} finding(s)`);
  return lines;
}
