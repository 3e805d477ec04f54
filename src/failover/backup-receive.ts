import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { checkFiles, isBackupId, readManifest } from './backup-manifest.js';
import { backupsToRemove, verificationOf, type BackupVerification } from './backup-retention.js';
import { backupsDir, listBackups } from './backup-store.js';

/*
 * The receiving side of a backup copied to another machine (`substrate: hosts`, the target not
 * the source's machine). Run on the target by the backup key's gate (src/hosts/backup-gate.ts),
 * never by hand: `begin` before the rsync, `finish` after it (the same checks and the same
 * rename into place as a copy on one machine, then retention), `abort` after a failed copy.
 * Each prints one JSON object; every step goes to the target's event log too.
 */

/** An `.incoming-<id>` this much older than now belongs to no running copy (rsync's own bound is 30 min). */
const STALE_INCOMING_MS = 35 * 60_000;

function checkId(id: string): void {
  if (!isBackupId(id)) throw new HastackError(ErrorCode.BAD_REQUEST, `"${id}" is not a backup id (YYYYMMDDTHHMMSSZ)`);
}

function say(topo: Topology, node: string, id: string, step: string, message: string, data: Record<string, unknown> = {}): void {
  appendEvent(topo.stateDir, { type: 'step', message, data: { op: 'backup', id, step, node, ...data } });
}

export interface ReceiveBegin {
  readonly incomingDir: string;
  /** Leftovers of interrupted copies removed now. */
  readonly removed: readonly string[];
}

/** Makes `<node>/backups` (0700) and removes the `.incoming-*` an interrupted copy left (older than a copy may run). */
export function receiveBegin(topo: Topology, node: string, id: string, now = Date.now()): ReceiveBegin {
  checkId(id);
  const root = backupsDir(topo, node);
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const removed: string[] = [];
  for (const name of fs.readdirSync(root).filter((n) => n.startsWith('.incoming-') && n !== `.incoming-${id}`)) {
    const p = path.join(root, name);
    // Another source's copy may be running (a manual backup beside the scheduled one): only old ones go.
    if (now - fs.statSync(p).mtimeMs < STALE_INCOMING_MS) continue;
    fs.rmSync(p, { recursive: true, force: true });
    removed.push(name);
  }
  say(topo, node, id, 'receive', `receiving backup ${id} into ${root}${removed.length > 0 ? ` (removed leftovers: ${removed.join(', ')})` : ''}`);
  return { incomingDir: path.join(root, `.incoming-${id}`), removed };
}

export interface ReceiveFinish {
  readonly dir: string;
  readonly removed: ReadonlyArray<{ readonly id: string; readonly verification: BackupVerification }>;
}

/**
 * Checks the copy against its manifest (every file's size and sha256), renames it into place, and
 * applies retention (`keep`) to this node's backups. A copy that does not match is removed and
 * fails: the backups already there are untouched.
 */
export async function receiveFinish(topo: Topology, node: string, id: string, keep: number): Promise<ReceiveFinish> {
  checkId(id);
  const root = backupsDir(topo, node);
  const incoming = path.join(root, `.incoming-${id}`);
  const final = path.join(root, id);
  if (!fs.existsSync(incoming)) throw new HastackError(ErrorCode.NOT_FOUND, `no copy of backup ${id} arrived in ${root}; run the backup again`);
  if (fs.existsSync(final)) throw new HastackError(ErrorCode.CLUSTER_RUNNING, `backup ${id} already exists in ${root}`);
  const manifest = readManifest(incoming);
  if (manifest.id !== id) throw new HastackError(ErrorCode.BAD_REQUEST, `the copy in ${incoming} holds backup ${manifest.id}, not ${id}`);
  const problems = await checkFiles(incoming, manifest);
  if (problems.length > 0) {
    fs.rmSync(incoming, { recursive: true, force: true });
    const why = `the copy of backup ${id} does not match its manifest: ${problems.slice(0, 5).join('; ')}; the backups already on ${node} are untouched`;
    say(topo, node, id, 'receive-failed', why, { warning: true });
    throw new HastackError(ErrorCode.SETUP_FAILED, `${why}; check the disk of ${node}`);
  }
  fs.rmSync(path.join(incoming, '.rsync-partial'), { recursive: true, force: true });
  fs.renameSync(incoming, final);
  say(topo, node, id, 'received', `backup ${id} from ${manifest.source.node} checked (${manifest.files.length} files, sha256) and in place: ${final}`, { dir: final });
  const onNode = listBackups(topo)
    .backups.filter((b) => b.node === node)
    .map((b) => ({ id: b.id, verification: verificationOf(b.verification) }));
  const removed: Array<{ id: string; verification: BackupVerification }> = [];
  for (const old of backupsToRemove(onNode, keep, id)) {
    fs.rmSync(path.join(root, old), { recursive: true, force: true });
    const verification = onNode.find((b) => b.id === old)?.verification ?? 'unverified';
    removed.push({ id: old, verification });
    say(topo, node, id, 'retention', `retention (keep ${keep}): removed backup ${old} (${verification}) from ${node}`, { removedId: old, verification });
  }
  return { dir: final, removed };
}

/** Removes the copy of a backup that failed. Idempotent. */
export function receiveAbort(topo: Topology, node: string, id: string): { removed: boolean } {
  checkId(id);
  const incoming = path.join(backupsDir(topo, node), `.incoming-${id}`);
  const existed = fs.existsSync(incoming);
  fs.rmSync(incoming, { recursive: true, force: true });
  if (existed) say(topo, node, id, 'receive-aborted', `the copy of backup ${id} failed on the sending side: removed ${incoming}; the backups already on ${node} are untouched`);
  return { removed: existed };
}
