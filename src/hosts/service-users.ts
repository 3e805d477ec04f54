import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { secretsSubset, type Secrets, type ServiceInstance, type ServiceKind, type Topology } from '../config/index.js';
import { isOwnKind, secretsOf } from '../registry/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';

/**
 * The unprivileged accounts services run as on a host (`substrate: hosts`). One system user (and
 * its own group) per kind of service, `hastack-<kind>`, shared by every cluster on the host.
 *
 * Why our own accounts rather than Debian's `mysql`, `redis` and `memcache`: those exist only
 * when the package is installed and own the distribution's own instance (/var/lib/mysql,
 * /var/lib/redis); sharing them would let a broken hastack engine read that instance's data (and
 * the reverse). Our own tiers (app, worker, lb, dns) have no Debian account at all, and
 * Sentinel (which rewrites its config) gets an account apart from Redis so that it cannot read
 * Redis's data or config. One rule for every kind keeps the table and the audit simple.
 *
 * Root stays only where it must: `prepare` (it renders configs holding secrets, provisions a
 * replica's datadir, installs the firewall rules, then hands the service directory to the
 * service's user), keepalived (VRRP needs raw sockets and the right to add addresses), and the
 * controller and backup units (they fence other hosts over SSH and copy the datadir).
 */
export function serviceUser(kind: ServiceKind): string {
  return `hastack-${kind}`;
}

export interface UserIds {
  readonly uid: number;
  readonly gid: number;
}

/** uid and gid of `user` from the system's user database; undefined when it does not exist. */
export function lookupUser(user: string): UserIds | undefined {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', user], { encoding: 'utf8', timeout: 5_000 }).trim();
  } catch {
    return undefined;
  }
  const f = line.split(':');
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
}

/**
 * useradd takes /etc/passwd's lock; two deploys to one machine (or a test bed's hosts, which
 * share /etc) can meet there. It answers in milliseconds: 5 tries 200 ms apart outlast the other.
 */
const USERADD_TRIES = 5;

/** Creates the system user (and group) of a service kind if missing. Root only. Idempotent. */
export function ensureServiceUser(kind: ServiceKind): UserIds {
  const user = serviceUser(kind);
  let last = '';
  for (let i = 0; i < USERADD_TRIES; i++) {
    const have = lookupUser(user);
    if (have) return have;
    try {
      // No home, no login shell: the account only owns its service's directory and processes.
      execFileSync(
        'useradd',
        ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--comment', `hastack ${kind}`, user],
        {
          timeout: 30_000,
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
    } catch (e) {
      last = describeError(e);
      execFileSync('sleep', ['0.2']);
    }
  }
  const have = lookupUser(user);
  if (have) return have;
  throw new HastackError(
    ErrorCode.SETUP_FAILED,
    `cannot create the system user ${user} (${last}); create it yourself: useradd --system --user-group --no-create-home --shell /usr/sbin/nologin ${user}`,
  );
}

/**
 * Hands `dir` and everything under it to `ids`, readable by that user alone (group and other
 * bits cleared: configs hold passwords), without following symbolic links: the service owns that
 * directory, and a link it planted there must not make root chown or chmod a file elsewhere.
 */
export function chownTree(dir: string, ids: UserIds): void {
  const walk = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (st.uid !== ids.uid || st.gid !== ids.gid) fs.lchownSync(p, ids.uid, ids.gid);
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o077) !== 0 && (st.isFile() || st.isDirectory())) fs.chmodSync(p, st.mode & 0o7700);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(dir);
}

/** Our own tiers read the cluster's secrets from here: their own copy, readable by them alone. */
export function serviceSecretsFile(svc: ServiceInstance): string {
  return path.join(svc.dir, 'secrets.json');
}

/**
 * `prepare`'s last step, as root: our own tiers get a copy of the secrets in their directory
 * (mode 0600), then the whole directory goes to the service's user. The node's secrets.json
 * stays root's.
 */
export function handOverServiceDir(svc: ServiceInstance, secrets: Secrets): void {
  const ids = ensureServiceUser(svc.kind);
  fs.mkdirSync(svc.dir, { recursive: true, mode: 0o700 });
  // hastack's own Node processes (the registry's `ours` kinds) read topology.json and secrets
  if (isOwnKind(svc.kind)) {
    const file = serviceSecretsFile(svc);
    const tmp = `${file}.${process.pid}.tmp`;
    // Only what this kind of service reads (its descriptor's secrets): a load balancer's copy holds nothing.
    fs.writeFileSync(tmp, JSON.stringify(secretsSubset(secrets, secretsOf(svc.kind)), null, 2) + '\n', { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  }
  chownTree(svc.dir, ids);
  fs.chmodSync(svc.dir, 0o700);
}

/**
 * The directories a service user must pass through to reach its own directory get the search
 * bit for others (never read: no listing), and our install dir is readable (it is code, no
 * secret). Bits are only added. Everything else under the node's directory (backups, the
 * controller's SSH key) is closed to others.
 */
export function openPathsForServices(topo: Topology, node: string): void {
  const addBits = (p: string, bits: number): void => {
    const st = fs.statSync(p);
    if ((st.mode & bits) !== bits) fs.chmodSync(p, (st.mode & 0o7777) | bits);
  };
  const installDir = topo.config.hosts.installDir;
  if (fs.existsSync(installDir)) addBits(installDir, 0o755);
  const nodeDir = path.join(topo.stateDir, node);
  fs.mkdirSync(nodeDir, { recursive: true, mode: 0o711 });
  // Ours (hosts.stateDir and below) get the search bit; a directory above it that lacks it would
  // lock the services out, and is not ours to open.
  const top = path.resolve(topo.config.hosts.stateDir);
  for (let p = nodeDir; ; p = path.dirname(p)) {
    if (p === top || p.startsWith(`${top}/`)) addBits(p, 0o111);
    else if ((fs.statSync(p).mode & 0o001) === 0) {
      throw new HastackError(
        ErrorCode.CONFIG_INVALID,
        `${p} (above hosts.stateDir ${top}) is closed to other users, so the services' own users cannot reach their directories: choose a hosts.stateDir outside it (default /var/lib/hastack)`,
      );
    }
    if (path.dirname(p) === p) break;
  }
  const serviceDirs = new Set(topo.services.filter((s) => s.node === node).map((s) => path.basename(s.dir)));
  for (const e of fs.readdirSync(nodeDir, { withFileTypes: true })) {
    if (e.isDirectory() && !serviceDirs.has(e.name)) fs.chmodSync(path.join(nodeDir, e.name), 0o700);
  }
  // Made here (0700) before the first backup does, so backups are never readable by services.
  fs.mkdirSync(path.join(nodeDir, 'backups'), { recursive: true, mode: 0o700 });
}

/**
 * `database.tls`: the node's key, certificate and the cluster CA live in `<stateDir>/tls/` (0700,
 * engines/tls.ts); the database server, which runs as `hastack-mariadb`, reads them there. That
 * directory and the key go to `hastack-mariadb` (0700 and 0600: readable by it alone, as every
 * other secret of a service); the certificates are public (0644).
 */
export function shareTlsWithDatabase(dir: string, keyFile: string): void {
  const ids = ensureServiceUser('mariadb');
  fs.chownSync(dir, ids.uid, ids.gid);
  fs.chmodSync(dir, 0o700);
  if (fs.existsSync(keyFile)) {
    fs.chownSync(keyFile, ids.uid, ids.gid);
    fs.chmodSync(keyFile, 0o600);
  }
}

/**
 * `lb.tls`: the certificate directory (`lb-tls/`, 0700) and every file in it (0600) go to the
 * service user of `kind`, which reads them after dropping root; nobody else can.
 */
export function shareWithServiceUser(kind: ServiceKind, dir: string): void {
  const ids = ensureServiceUser(kind);
  fs.chownSync(dir, ids.uid, ids.gid);
  fs.chmodSync(dir, 0o700);
  for (const name of fs.readdirSync(dir)) {
    const f = path.join(dir, name);
    fs.chownSync(f, ids.uid, ids.gid);
    fs.chmodSync(f, 0o600);
  }
}
