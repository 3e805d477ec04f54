import path from 'node:path';
import type { Topology } from '../config/index.js';

/*
 * Where a backup lands (`backup.targets`, else `backup.target`, else the default node). Three kinds:
 *   - node: the node's backup directory `<state>/<node>/backups` (on hosts, on that node's machine,
 *     reached over SSH with the backup key when it is another machine: backup-remote.ts);
 *   - dir: `DIR/<cluster>/` on the machine that takes the backup, a disk or share that belongs to
 *     another machine (NFS, a USB disk, an object-store mount): off the cluster's machines. On hosts
 *     it must be mounted on every database node (the backup runs on the replica's machine).
 *   - ssh: `DIR/<cluster>/` on a plain machine (sshd and rsync, no hastack) reached over SSH with
 *     the backup key (backup-ssh.ts): off the cluster's machines without a shared mount.
 * Each target keeps its own count (`keep`, default backup.keep).
 */

/** How an SSH target is reached (`ssh: user@host[:port]`, checked by the schema). */
export interface SshEndpoint {
  readonly user: string;
  readonly host: string;
  readonly port: number;
  /** `TYPE BASE64` from the config: the only key accepted for this machine. */
  readonly hostKey?: string;
  /** Else this known_hosts file; else ssh's default (~/.ssh/known_hosts). */
  readonly knownHostsFile?: string;
}

export interface BackupTarget {
  /** The node's name, or the directory target's `name` (how `backup list` names it). */
  readonly name: string;
  readonly kind: 'node' | 'dir' | 'ssh';
  /** The directory holding this target's backups (`<id>/` each), on the machine it lives on. */
  readonly root: string;
  readonly keep: number;
  /** Set for `kind: 'ssh'` only. */
  readonly ssh?: SshEndpoint;
}

/** `user@host[:port]` (the schema checked its shape) as its parts. Pure. */
export function parseEndpoint(spec: string): Pick<SshEndpoint, 'user' | 'host' | 'port'> {
  const at = spec.lastIndexOf('@');
  const rest = spec.slice(at + 1);
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(rest);
  return { user: spec.slice(0, at), host: m?.[1] ?? m?.[2] ?? rest, port: m?.[3] !== undefined ? Number(m[3]) : 22 };
}

export function backupsDir(topo: Topology, node: string): string {
  return path.join(topo.stateDir, node, 'backups');
}

/** The node target (`--to`, `backup.target`, the default). */
export function nodeTarget(topo: Topology, node: string, keep = topo.config.backup.keep): BackupTarget {
  return { name: node, kind: 'node', root: backupsDir(topo, node), keep };
}

/**
 * The configured list: `backup.targets` as given; else undefined (the one node target is then
 * chosen from the roles, backup-plan.ts).
 */
export function configuredTargets(topo: Topology): BackupTarget[] | undefined {
  const list = topo.config.backup.targets;
  if (list === undefined) return undefined;
  const keep = topo.config.backup.keep;
  return list.map((t) => {
    if (typeof t === 'string') return nodeTarget(topo, t, keep);
    if ('node' in t) return nodeTarget(topo, t.node, t.keep ?? keep);
    if ('ssh' in t) {
      const ssh: SshEndpoint = {
        ...parseEndpoint(t.ssh),
        ...(t.hostKey !== undefined ? { hostKey: t.hostKey } : {}),
        ...(t.knownHostsFile !== undefined ? { knownHostsFile: t.knownHostsFile } : {}),
      };
      return { name: t.name, kind: 'ssh', root: path.posix.join(t.dir, topo.cluster), keep: t.keep ?? keep, ssh };
    }
    return { name: t.name, kind: 'dir', root: path.join(t.dir, topo.cluster), keep: t.keep ?? keep };
  });
}

/** The directory targets, for listing and cleaning (node targets are found through the nodes). */
export function dirTargets(topo: Topology): BackupTarget[] {
  return (configuredTargets(topo) ?? []).filter((t) => t.kind === 'dir');
}

/** The SSH targets (plain machines), for listing, restoring and the binlog archive's copies. */
export function sshTargets(topo: Topology): BackupTarget[] {
  return (configuredTargets(topo) ?? []).filter((t) => t.kind === 'ssh');
}
