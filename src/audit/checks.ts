import type { AdminProbe, FileFact, HostFacts, ListenFact, ProcessFact } from './facts.js';
import { AuditCode, finding, info, type Finding } from './findings.js';

/**
 * The audit's judgement, pure: facts in (facts.ts), findings out. Each check is one class of the
 * review (issue 17): binds, users, file modes, key restrictions, the admin API, unauthenticated
 * stores.
 */

/** What the checks need of the topology (a plain shape, so tests build it by hand). */
export interface AuditScope {
  readonly cluster: string;
  /** For messages only; the checks judge by `nodesAreMachines`. */
  readonly substrate: string;
  /** Each node a machine of its own (SubstrateTraits): services must run as their own users, files are per machine. */
  readonly nodesAreMachines: boolean;
  /** node name → its address. */
  readonly nodes: ReadonlyMap<string, string>;
  /** service id → its node. */
  readonly services: ReadonlyMap<string, string>;
  readonly admin: { readonly address: string; readonly port: number };
  /** On hosts: the controller's node (its host serves the admin API). */
  readonly controllerNode?: string;
  /**
   * Where a MariaDB account may log in from: the nodes' addresses, loopback, `database.adminFrom`
   * (engines' adminHosts). Absent: accounts are not judged.
   */
  readonly dbAllowedHosts?: readonly string[];
  /**
   * hastack's own accounts that are `@'%'` by design (the app's and replication's: password-only,
   * every node connects with them); reported as info, not findings.
   */
  readonly dbWildcardByDesign?: readonly string[];
  /** node → the secrets its host must hold (deploy's nodeSecretNames, united over nodes sharing a host). */
  readonly secretNeeds?: ReadonlyMap<string, readonly string[]>;
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

/** (a) Every listener of a service on its node's address; the admin API on loopback or the admin address. */
export function checkBinds(scope: AuditScope, listens: readonly ListenFact[]): Finding[] {
  const out: Finding[] = [];
  for (const l of listens) {
    const at = `${l.address}:${l.port}`;
    if (l.owner === 'admin') {
      if (WILDCARDS.has(l.address) || (!isLoopback(l.address) && l.address !== scope.admin.address)) {
        out.push(
          finding(
            AuditCode.ADMIN_BIND,
            'admin',
            `the admin API listens on ${at}, off loopback and off the admin address ${scope.admin.address}`,
            'restart the supervisor/controller; on hosts set hosts.adminAddress to loopback or the admin network',
          ),
        );
      }
      continue;
    }
    const node = scope.services.get(l.owner);
    const own = node === undefined ? undefined : scope.nodes.get(node);
    if (WILDCARDS.has(l.address)) {
      out.push(
        finding(
          AuditCode.BIND_WILDCARD,
          l.owner,
          `listens on ${at} (every address of the machine), pid ${l.pid}`,
          `bind it to its node's address ${own ?? '(its node address)'} in its rendered config, then redeploy`,
        ),
      );
    } else if (l.address !== own) {
      out.push(
        finding(
          AuditCode.BIND_FOREIGN,
          l.owner,
          `listens on ${at}, not on its node's address ${own ?? '(unknown node)'}, pid ${l.pid}`,
          `bind it to ${own ?? 'its node address'} only`,
        ),
      );
    }
  }
  return out;
}

/** (b) No service process as root on hosts; on local/netns everything is the invoking user's, by design. */
export function checkUsers(scope: AuditScope, processes: readonly ProcessFact[], where: string): Finding[] {
  if (!scope.nodesAreMachines) {
    const uids = [...new Set(processes.map((p) => p.uid))];
    return [
      info(
        where,
        `on the ${scope.substrate} substrate every service runs as the invoking user (uid ${uids.join(', ') || '-'}): not a finding; on hosts each service must run as its own unprivileged user`,
      ),
    ];
  }
  return processes
    .filter((p) => p.uid === 0 && p.owner !== 'admin')
    .map((p) =>
      finding(
        AuditCode.RUNS_AS_ROOT,
        p.owner,
        `runs as root (pid ${p.pid})`,
        'run the service as its own unprivileged user with systemd sandboxing (NoNewPrivileges, ProtectSystem=strict), then redeploy',
      ),
    );
}

/** (c) Secrets 0600 and their owner's; no password in a world-readable file; no world-writable directory. */
export function checkFileModes(files: readonly FileFact[], ownerUid: number): Finding[] {
  const out: Finding[] = [];
  for (const f of files) {
    const mode = `0${(f.mode & 0o777).toString(8)}`;
    if (f.dir) {
      // The sticky bit (/tmp's) would make a world-writable dir safe-ish; ours never need either.
      if ((f.mode & 0o002) !== 0) out.push(finding(AuditCode.DIR_WORLD_WRITABLE, f.path, `directory mode ${mode}: anyone may add or replace files in it`, `chmod o-w ${f.path}`));
      continue;
    }
    if (f.secretFile) {
      if ((f.mode & 0o077) !== 0) out.push(finding(AuditCode.SECRET_FILE_MODE, f.path, `a secret with mode ${mode}: others may read it`, `chmod 600 ${f.path}`));
      // Ours (the invoking user, root on hosts) or the user that owns its directory (a service's own).
      if (f.uid !== ownerUid && f.uid !== f.parentUid) {
        out.push(finding(AuditCode.SECRET_FILE_OWNER, f.path, `a secret owned by uid ${f.uid}, not uid ${ownerUid} nor its directory's owner`, `chown ${ownerUid} ${f.path}`));
      }
    } else if (f.holdsSecret && (f.mode & 0o004) !== 0) {
      // A secret-holding config is judged by who can actually read it: its directories too.
      if (f.othersReach)
        out.push(
          finding(
            AuditCode.SECRET_WORLD_READABLE,
            f.path,
            `holds one of the cluster's passwords and is world-readable (mode ${mode})`,
            `chmod o-r ${f.path} (and fix whatever renders it to write 0600/0640)`,
          ),
        );
      else out.push(info(f.path, `holds a password with mode ${mode}; only a private directory above it keeps others out (the engine rewrites it with its own mode)`));
    }
  }
  return out;
}

/** `restrict,command="...",from="..." ssh-ed25519 AAAA... comment` → its options (quotes kept whole). */
export function keyOptions(line: string): string[] {
  const t = line.trim();
  if (/^(ssh-|ecdsa-|sk-)/.test(t)) return [];
  const opts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i] as string;
    if (c === '"' && t[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && c === ',') {
      opts.push(cur);
      cur = '';
    } else if (!quoted && /\s/.test(c)) {
      break;
    } else cur += c;
  }
  if (cur !== '') opts.push(cur);
  return opts;
}

/** (d) The controller's key in root's authorized_keys carries `restrict`, `command=` and `from=`. */
export function checkControllerKey(node: string, lines: readonly string[]): Finding[] {
  const out: Finding[] = [];
  for (const line of lines) {
    const opts = keyOptions(line).map((o) => o.toLowerCase());
    const missing = [
      opts.includes('restrict') ? undefined : 'restrict',
      opts.some((o) => o.startsWith('command=')) ? undefined : 'command=',
      opts.some((o) => o.startsWith('from=')) ? undefined : 'from=',
    ].filter((x): x is string => x !== undefined);
    if (missing.length > 0) {
      out.push(
        finding(
          AuditCode.KEY_UNRESTRICTED,
          node,
          `the controller's key in root's authorized_keys lacks ${missing.join(', ')}: it is a root login from anywhere`,
          'run "hastack deploy" with a version that restricts it (restrict,command="<agent> ...",from="<controller address>")',
        ),
      );
    }
  }
  return out;
}

const REFUSED = new Set([401, 403, 415]);

/** (e) The admin API refuses state changes without the token, and cross-origin and foreign-Host requests. */
export function checkAdminProbe(p: AdminProbe): Finding[] {
  if (p.error !== undefined)
    return [finding(AuditCode.AUDIT_INCOMPLETE, 'admin', `the admin API at ${p.url} did not answer (${p.error})`, 'is the cluster up ("hastack status")? then audit again')];
  const out: Finding[] = [];
  if (!REFUSED.has(p.noToken))
    out.push(
      finding(
        AuditCode.ADMIN_NO_TOKEN,
        'admin',
        `POST /v1/faults without a token got HTTP ${p.noToken} at ${p.url}, not a refusal`,
        'upgrade: the admin API must require the token (<state dir>/admin-token) on every state change',
      ),
    );
  if (p.crossOrigin !== 403)
    out.push(
      finding(
        AuditCode.ADMIN_CROSS_ORIGIN,
        'admin',
        `a cross-origin POST /v1/faults got HTTP ${p.crossOrigin} at ${p.url}, not 403`,
        'upgrade: the admin API must refuse any request from another origin',
      ),
    );
  if (p.crossOriginRead !== 403)
    out.push(
      finding(
        AuditCode.ADMIN_CROSS_ORIGIN,
        'admin',
        `a cross-origin GET /v1/status got HTTP ${p.crossOriginRead} at ${p.url}, not 403`,
        'upgrade: the admin API must refuse any request from another origin',
      ),
    );
  if (p.foreignHost !== 403)
    out.push(
      finding(
        AuditCode.ADMIN_CROSS_ORIGIN,
        'admin',
        `GET /v1/status with a foreign Host got HTTP ${p.foreignHost} at ${p.url}, not 403 (DNS rebinding)`,
        'upgrade: the admin API must refuse a Host that is not its own',
      ),
    );
  return out;
}

/** What a store answered this machine without credentials (probes.ts). */
export interface StoreProbe {
  readonly service: string;
  readonly kind: 'redis' | 'sentinel' | 'mariadb' | 'memcached';
  /** redis/sentinel: the answer to PING; memcached: to `version`; mariadb: 'login ok' or undefined. */
  readonly answer?: string | undefined;
}

/**
 * (f) Redis, Sentinel and MariaDB demand a password; memcached, which cannot, must not answer a
 * machine outside the cluster (on local/netns every client is this machine: bound to its node's
 * address, which (a) checks, is the whole of it).
 */
export function checkStores(scope: AuditScope, probes: readonly StoreProbe[], thisMachineIsNode: boolean): Finding[] {
  const out: Finding[] = [];
  for (const p of probes) {
    if ((p.kind === 'redis' || p.kind === 'sentinel') && p.answer !== undefined && /^\+PONG/.test(p.answer)) {
      out.push(
        finding(
          AuditCode.REDIS_NO_AUTH,
          p.service,
          `${p.kind} answered PING without a password`,
          `set requirepass${p.kind === 'sentinel' ? ' (sentinel)' : ''} from secrets.json and restart it`,
        ),
      );
    }
    if (p.kind === 'mariadb' && p.answer === 'login ok') {
      out.push(
        finding(
          AuditCode.DB_NO_AUTH,
          p.service,
          'MariaDB let root or an anonymous user in without a password',
          "drop anonymous users and set root's password (mariadb-secure-installation), or redeploy",
        ),
      );
    }
    if ((p.kind === 'redis' || p.kind === 'sentinel') && scope.nodesAreMachines && !thisMachineIsNode && p.answer !== undefined) {
      // Any answer (even -NOAUTH) means the port is open to this machine: the password is all that guards it.
      out.push(
        finding(
          AuditCode.REDIS_REACHABLE,
          p.service,
          `${p.kind} answered this machine, which is not a cluster node (${JSON.stringify(p.answer.slice(0, 40))})`,
          'firewall its port to the cluster\'s nodes: "hastack deploy" installs the rules (src/hosts/firewall.ts)',
        ),
      );
    }
    if (p.kind === 'memcached' && scope.nodesAreMachines && !thisMachineIsNode && p.answer !== undefined && /^VERSION/.test(p.answer)) {
      out.push(
        finding(
          AuditCode.MEMCACHED_REACHABLE,
          p.service,
          'memcached (which has no authentication) answered this machine, which is not a cluster node',
          "firewall memcached's port to the cluster's nodes (deploy installs the rules) or enable SASL",
        ),
      );
    }
  }
  if (!scope.nodesAreMachines && probes.some((p) => p.kind === 'memcached')) {
    out.push(
      info(
        'memcached',
        `memcached has no authentication; on the ${scope.substrate} substrate it is reachable only from this machine (bound to its node's loopback address, see the bind check)`,
      ),
    );
  }
  return out;
}

/** A MariaDB account host that matches more than one address: `%`, `_`, or a netmask. */
export function isWildcardHost(host: string): boolean {
  return host.includes('%') || host.includes('_') || host.includes('/');
}

/** An account host the server can match under skip-name-resolve (an address or pattern of one). */
function isAddressLike(host: string): boolean {
  return host === 'localhost' || host.includes(':') || /^[\d.%_/]+$/.test(host);
}

/**
 * (g) MariaDB accounts log in only from the cluster's addresses, loopback and `database.adminFrom`:
 * a wildcard host (`%`) lets any machine that reaches the port try the password. hastack's own
 * app and replication accounts are `%` by design (info).
 */
export function checkDbAccounts(scope: AuditScope, accounts: readonly { user: string; host: string }[], where: string): Finding[] {
  if (scope.dbAllowedHosts === undefined) return [];
  const allowed = new Set(scope.dbAllowedHosts);
  const byDesign = new Set(scope.dbWildcardByDesign ?? []);
  const out: Finding[] = [];
  const q = (a: { user: string; host: string }): string => `'${a.user}'@'${a.host}'`;
  for (const a of accounts) {
    if (isWildcardHost(a.host)) {
      if (byDesign.has(a.user) && a.host === '%') out.push(info(where, `${q(a)} is hastack's own account, password-only from any address by design`));
      else
        out.push(
          finding(
            AuditCode.DB_ACCOUNT_WILDCARD,
            where,
            `the account ${q(a)} may log in from any address its host pattern matches, not only the cluster's`,
            `DROP USER ${q(a)} (or recreate it for the node addresses and database.adminFrom only)`,
          ),
        );
    } else if (isAddressLike(a.host) && !allowed.has(a.host)) {
      out.push(
        finding(
          AuditCode.DB_ACCOUNT_FOREIGN_HOST,
          where,
          `the account ${q(a)} names an address that is no cluster node's and not in database.adminFrom`,
          `DROP USER ${q(a)}, or add the address to database.adminFrom if it is an operator's machine`,
        ),
      );
    }
  }
  return out;
}

/** (h) A node holds only the secrets its services need (SECRETS_OF; everything on the controller's node). */
export function checkSecretsHeld(node: string, held: readonly string[], needed: readonly string[]): Finding[] {
  const extra = held.filter((k) => !needed.includes(k));
  if (extra.length === 0) return [];
  return [
    finding(
      AuditCode.SECRET_NOT_NEEDED,
      node,
      `its secrets.json holds ${extra.join(', ')}, which none of its services needs (it needs ${needed.join(', ') || 'none'})`,
      `remove ${extra.join(', ')} from the node's secrets.json, or run "hastack deploy", which writes each node only its services' secrets`,
    ),
  ];
}

/** Every host's facts judged; `problems` become AUDIT_INCOMPLETE findings (an audit that could not look did not pass). */
export function checkHostFacts(scope: AuditScope, facts: HostFacts): Finding[] {
  return [
    ...checkBinds(scope, facts.listens),
    ...checkUsers(scope, facts.processes, facts.node),
    // On hosts every machine has the same paths: say whose file it is.
    ...checkFileModes(facts.files, facts.ownerUid).map((f) => (scope.nodesAreMachines ? { ...f, where: `${facts.node}:${f.where}` } : f)),
    ...(facts.controllerKeyLines === null ? [] : checkControllerKey(facts.node, facts.controllerKeyLines)),
    ...(facts.admin === null ? [] : checkAdminProbe(facts.admin)),
    // Probed from the node's own host: a cluster machine, so only the password is judged.
    ...(facts.stores === undefined ? [] : checkStores(scope, facts.stores, true)),
    ...(facts.dbAccounts === undefined ? [] : checkDbAccounts(scope, facts.dbAccounts, 'mariadb')),
    ...(facts.secretsHeld === undefined || scope.secretNeeds?.get(facts.node) === undefined
      ? []
      : checkSecretsHeld(facts.node, facts.secretsHeld, scope.secretNeeds.get(facts.node) ?? [])),
    ...facts.problems.map((p) => finding(AuditCode.AUDIT_INCOMPLETE, facts.node, p, 'fix the cause and audit again')),
  ];
}
