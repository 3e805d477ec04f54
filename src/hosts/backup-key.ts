import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { hostStateDir, type Config, type Topology } from '../config/index.js';
import type { BackupMachine, RemoteTarget } from '../failover/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { knownHostLines } from './controller-key.js';
import type { HostSession } from './session.js';
import { parseSshTarget, shq } from './ssh.js';
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

function plain(p: string): string {
  if (!/^[A-Za-z0-9_@%+=:,./-]+$/.test(p)) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `${p}: hosts.installDir and hosts.stateDir must be plain paths (no blanks or quotes) to go into authorized_keys`);
  }
  return p;
}

/** The authorized_keys line of the backup key on the host of `node`. Pure. */
export function backupKeyLine(topo: Topology, publicKey: string, node: string): string {
  const from = backupNodesOf(topo).map((n) => topo.nodes.find((x) => x.name === n)?.address ?? '');
  for (const a of from) {
    if (!/^[0-9A-Fa-f.:/]+$/.test(a))
      throw new HastackError(ErrorCode.CONFIG_INVALID, `${a}: a database node's address must be an IP address to restrict the backup key with from=`);
  }
  const bin = plain(path.posix.join(topo.config.hosts.installDir, 'bin/hastack'));
  const command = `${bin} _backup-gate --state ${plain(hostStateDir(topo.config))} --node ${plain(node)}`;
  return `restrict,from="${from.join(',')}",command="${command}" ${publicKey.trim()}`;
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
  const body = key.publicKey.split(' ').slice(0, 2).join(' ');
  const added: string[] = [];
  await Promise.all(
    backupTargetsOf(topo).map(async (n) => {
      const s = sessions.get(n);
      if (!s) throw new HastackError(ErrorCode.INTERNAL, `no session for the backup target ${n}`);
      const line = backupKeyLine(topo, key.publicKey, n);
      // As the controller key: the restricted line replaces any other line of this key.
      const out = await s.ssh.run(
        [
          'umask 077; k="$HOME/.ssh/authorized_keys"; mkdir -p "$HOME/.ssh"; touch "$k"',
          `if grep -qxF ${shq(line)} "$k" && [ "$(grep -cF ${shq(body)} "$k")" = 1 ]; then echo present; exit 0; fi`,
          `{ grep -vF ${shq(body)} "$k"; echo ${shq(line)}; } > "$k.hastack-tmp" && mv -f "$k.hastack-tmp" "$k" && echo added`,
        ].join('\n'),
      );
      if (out.trim() === 'added') added.push(n);
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
