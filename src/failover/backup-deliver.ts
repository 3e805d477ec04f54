import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { checkFiles } from './backup-manifest.js';
import { copyToRemote, type RemoteTarget } from './backup-remote.js';
import { backupsToRemove, verificationOf, type BackupVerification } from './backup-retention.js';
import { copyToSsh, type SshCopy } from './backup-ssh-store.js';
import { sshConn } from './backup-ssh.js';
import { listBackups } from './backup-store.js';
import type { BackupTarget } from './backup-targets.js';
import { runTool } from './backup-tools.js';

/*
 * One finished staging directory delivered to one target: on this machine (a node's backup
 * directory, or a directory target) rsync into `.incoming-<id>`, check every sha256, rename into
 * place, then retention with the target's own `keep`; on another machine (hosts) the same over
 * SSH with the backup key (backup-remote.ts, the target's gate does the check, rename and
 * retention); on a plain machine reached over SSH (`kind: 'ssh'`) the same steps as scripts over
 * SSH (backup-ssh-store.ts). A target that fails leaves the others' copies and its own older
 * backups untouched.
 */

/** One delivery: the copy to each target (an SSH target takes the same, without the topology). */
export interface DeliverOptions extends SshCopy {
  readonly topo: Topology;
}

export interface Delivered {
  readonly target: string;
  readonly dir: string;
  readonly removed: ReadonlyArray<{ readonly id: string; readonly verification: BackupVerification }>;
}

export function incomingDirOf(t: BackupTarget, id: string): string {
  return path.join(t.root, `.incoming-${id}`);
}

export async function deliver(t: BackupTarget, remote: RemoteTarget | undefined, o: DeliverOptions): Promise<Delivered> {
  const incomingDir = incomingDirOf(t, o.id);
  if (t.kind === 'ssh') {
    const done = await copyToSsh(t, sshConn(o.topo, t), o);
    return { target: t.name, dir: done.dir, removed: done.removed };
  }
  if (remote) {
    const done = await copyToRemote(remote, { ...o, incomingDir, keep: t.keep });
    return { target: t.name, dir: done.dir, removed: done.removed };
  }
  const finalDir = path.join(t.root, o.id);
  if (fs.existsSync(finalDir)) throw new HastackError(ErrorCode.CLUSTER_RUNNING, `backup ${o.id} already exists on ${t.name}; wait a second and run again`);
  fs.mkdirSync(t.root, { recursive: true, mode: 0o700 });
  o.say(`rsync to ${t.name}:${incomingDir}`, 'rsync', { target: t.name });
  await runTool('rsync', ['-a', '--checksum', '--delete', `${o.stagingDir}/`, `${incomingDir}/`], {
    logFile: o.logFile,
    timeoutMs: o.timeoutMs,
    signal: o.signal,
    what: `rsync to ${t.name}`,
  });
  const problems = await checkFiles(incomingDir, o.manifest);
  if (problems.length > 0) {
    throw new HastackError(ErrorCode.SETUP_FAILED, `the copy on ${t.name} does not match the manifest: ${problems.slice(0, 5).join('; ')}; check the disk of ${t.name}`);
  }
  fs.renameSync(incomingDir, finalDir);
  // Retention, only now that the new backup is complete, among this target's backups alone.
  const onTarget = listBackups(o.topo)
    .backups.filter((b) => b.node === t.name && path.dirname(b.dir) === t.root)
    .map((b) => ({ id: b.id, verification: verificationOf(b.verification) }));
  const removed: Array<{ id: string; verification: BackupVerification }> = [];
  for (const id of backupsToRemove(onTarget, t.keep, o.id)) {
    fs.rmSync(path.join(t.root, id), { recursive: true, force: true });
    removed.push({ id, verification: onTarget.find((b) => b.id === id)?.verification ?? 'unverified' });
  }
  return { target: t.name, dir: finalDir, removed };
}
