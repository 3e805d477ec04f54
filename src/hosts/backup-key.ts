import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { hostStateDir, substrateTraits, type Config, type Topology } from '../config/index.js';
import { backupIdentityFile, ensureBackupIdentity, type BackupMachine, type RemoteTarget } from '../failover/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/files.js';
import { restrictedKeyLine } from './agent-gate.js';
import { authorizedKeysOutcome, authorizedKeysScript, keyBody } from './authorized-keys.js';
import { knownHostLines } from './controller-key.js';
import type { HostSession } from './session.js';
import { parseSshTarget } from './ssh.js';
import { backupNodesOf } from './units.js';

const run = promisify(execFile);

/**
 * The cluster's backup key: how a database node copies a backup to a target on another machine.
 * Its own key (never the operator's, never the controller's), made by `deploy` once per cluster:
 * the private half on every database node (root, 0600: the backup unit runs as root, it reads
 * the datadir's copy), the public half in the SSH user's `authorized_keys` of every node that
 * can be a target, as `restrict,from="<database nodes>",command="<hastack> _backup-gate --state
 * DIR --node N"`: no shell, no forwarding, only from the database nodes, and only to receive a
 * backup into N's backup directory (backup-gate.ts). Host keys come from the operator's verified
 * known_hosts (never trust-on-first-use).
 */
export interface BackupKeyFiles {
  readonly identityFile: string;
  readonly knownHostsFile: string;
}

export function backupKeyFiles(config: Config): BackupKeyFiles {
  const dir = path.posix.join(hostStateDir(config), 'ssh');
  return { identityFile: `${dir}/backup_ed25519`, knownHostsFile: `${dir}/backup_known_hosts` };
}

/** The nodes a backup may land on: `backup.target`, or the nodes among `backup.targets`, else every database node (the default follows the roles). */
export function backupTargetsOf(topo: Topology): string[] {
  const { target, targets } = topo.config.backup;
  if (target !== undefined) return [target];
  if (targets !== undefined) return targets.flatMap((t) => (typeof t === 'string' ? [t] : 'node' in t ? [t.node] : []));
  return backupNodesOf(topo);
}

async function clusterBackupKey(topo: Topology): Promise<{ privateKey: string; publicKey: string }> {
  const file = path.join(topo.stateDir, 'backup_ed25519');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(topo.stateDir, { recursive: true, mode: 0o700 });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `hastack-${topo.cluster}-backup`, '-f', file]);
  }
  return { privateKey: fs.readFileSync(file, 'utf8'), publicKey: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
}

/**
 * The public half of the key SSH backup targets accept (backup-target-auth.ts). On hosts the
 * cluster's backup key, the one every database node holds; it is also put at this machine's
 * backup identity (`<state>/ssh/backup_ed25519`, 0600, where backup-ssh.ts looks), so that
 * `backup list` and `restore` run here use the same key. Elsewhere this machine's own (made on
 * first use). Without `create`, undefined while there is none (a dry run changes nothing).
 */
export async function sshTargetKey(topo: Topology, o: { readonly create: boolean }): Promise<string | undefined> {
  const identity = backupIdentityFile(topo);
  if (!substrateTraits(topo.config).nodesAreMachines) {
    if (!o.create && !fs.existsSync(`${identity}.pub`)) return undefined;
    if (o.create) await ensureBackupIdentity(topo);
    return fs.readFileSync(`${identity}.pub`, 'utf8').trim();
  }
  if (!o.create) {
    const pub = path.join(topo.stateDir, 'backup_ed25519.pub');
    return fs.existsSync(pub) ? fs.readFileSync(pub, 'utf8').trim() : undefined;
  }
  const key = await clusterBackupKey(topo);
  if (!fs.existsSync(identity) || fs.readFileSync(identity, 'utf8') !== key.privateKey) {
    fs.mkdirSync(path.dirname(identity), { recursive: true, mode: 0o700 });
    writeFileAtomic(identity, key.privateKey, 0o600);
    writeFileAtomic(`${identity}.pub`, `${key.publicKey}\n`, 0o644);
  }
  return key.publicKey;
}

function plain(p: string): string {
  if (!/^[A-Za-z0-9_@%+=:,./-]+$/.test(p)) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `${p}: hosts.installDir and hosts.stateDir must be plain paths (no blanks or quotes) to go into authorized_keys`);
  }
  return p;
}

/** The authorized_keys line of the backup key on the host of `node`. Pure. */
export function backupKeyLine(topo: Topology, publicKey: string, node: string): string {
  const from = backupNodesOf(topo).map((n) => topo.nodes.find((x) => x.name === n)?.address ?? '');
  const bin = plain(path.posix.join(topo.config.hosts.installDir, 'bin/hastack'));
  return restrictedKeyLine(publicKey, `${bin} _backup-gate --state ${plain(hostStateDir(topo.config))} --node ${plain(node)}`, from);
}

/**
 * Installs the backup key: private key and known_hosts on every database node, the restricted
 * public key on every possible target. Idempotent; returns the nodes it authorised it on anew.
 */
export async function installBackupKey(topo: Topology, sessions: ReadonlyMap<string, HostSession>): Promise<string[]> {
  const sources = backupNodesOf(topo);
  if (sources.length === 0) return [];
  const key = await clusterBackupKey(topo);
  const files = backupKeyFiles(topo.config);
  const known = await knownHostLines(topo);
  await Promise.all(
    sources.map(async (n) => {
      const s = sessions.get(n);
      if (!s) throw new HastackError(ErrorCode.INTERNAL, `no session for the database node ${n}`);
      await s.ssh.writeFile(files.identityFile, key.privateKey, 0o600);
      await s.ssh.writeFile(files.knownHostsFile, known, 0o644);
    }),
  );
  const added: string[] = [];
  await Promise.all(
    backupTargetsOf(topo).map(async (n) => {
      const s = sessions.get(n);
      if (!s) throw new HastackError(ErrorCode.INTERNAL, `no session for the backup target ${n}`);
      const line = backupKeyLine(topo, key.publicKey, n);
      // As the controller key: the restricted line replaces any other line of this key.
      const out = await s.ssh.run(authorizedKeysScript(line, { body: keyBody(key.publicKey) }));
      if (authorizedKeysOutcome(out) !== 'present') added.push(n);
    }),
  );
  return added;
}

// A target that does not answer within 10 s is down or cut off: the copy fails and says so
// rather than hanging. Keepalives: a connection silent for a minute is dead.
const CONNECT_TIMEOUT_S = 10;

/** How a backup running on this host reaches another node with the backup key. */
export function backupRemote(topo: Topology, node: string): RemoteTarget {
  const n = topo.config.nodes.find((x) => x.name === node);
  if (n?.ssh === undefined) throw new HastackError(ErrorCode.CONFIG_INVALID, `node ${node} has no ssh target (nodes[].ssh): a backup cannot be copied to it`);
  const t = parseSshTarget(node, n.ssh);
  const f = backupKeyFiles(topo.config);
  const ssh = [
    'ssh',
    '-i',
    plain(f.identityFile),
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${plain(f.knownHostsFile)}`,
    '-o',
    `ConnectTimeout=${CONNECT_TIMEOUT_S}`,
    '-o',
    'ServerAliveInterval=15',
    '-o',
    'ServerAliveCountMax=4',
    '-o',
    'LogLevel=ERROR',
    '-p',
    String(t.port),
  ];
  return { node, ssh, destination: `${t.user}@${t.host}` };
}

/** The nodes whose address is one of this machine's (a host of `substrate: hosts`). */
export function nodesOnThisMachine(topo: Topology): string[] {
  const mine = new Set(
    Object.values(os.networkInterfaces())
      .flat()
      .map((i) => i?.address),
  );
  return topo.nodes.filter((n) => mine.has(n.address)).map((n) => n.name);
}

/** The backup's view of this host: its own nodes, and the backup key to reach the others. */
export function backupMachine(topo: Topology): BackupMachine {
  return { nodes: nodesOnThisMachine(topo), remote: (node) => backupRemote(topo, node) };
}
