import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { sleep } from '../shared/retry.js';
import { isBackupId, manifestSchema, type BackupManifest } from './backup-manifest.js';
import { COPY_ATTEMPTS } from './backup-remote.js';
import { backupsToRemove, verificationOf, type BackupVerification } from './backup-retention.js';
import { LIST_MARK, LIST_VERIFY_MARK } from './backup-ssh-gate.js';
import { ensureBackupIdentity, sshCall, sshConn, type SshConn } from './backup-ssh.js';
import { parseVerifyResult, VERIFY_FILE, type StoredBackup } from './backup-store.js';
import { sshTargets, type BackupTarget } from './backup-targets.js';
import { runTool } from './backup-tools.js';

/*
 * Backups on an SSH target (a plain machine, backup-ssh.ts), with the guarantees of the other
 * kinds but no hastack on the far side: every step is one request to the gate there
 * (backup-ssh-gate.ts: `begin`, rsync, `sums`, `finish`, `list`, `remove`, `put`).
 *   begin   the directory exists (0700), rsync and sha256sum are there, leftovers of copies older
 *           than any copy can run are removed; asked before a replica is held still;
 *   copy    rsync into `.incoming-<id>`, up to COPY_ATTEMPTS tries, each resuming the last;
 *   check   `sha256sum` of every file the manifest lists, run there, compared here;
 *   rename  `.incoming-<id>` → `<id>` (one rename(2) in one directory: atomic);
 *   retain  the target's own `keep`, by backup-retention.ts's rules, over its verify.json files.
 * A failed copy removes its `.incoming-<id>` when the machine still answers; the backups already
 * there are never touched by a failed copy.
 */

// Between tries: a restarting sshd or a network blip is over within seconds.
const RETRY_DELAY_MS = 3_000;
// No byte in either direction for this long: the connection is dead (rsync --timeout).
const RSYNC_IO_TIMEOUT_S = 60;
// A listing, a rename, a removal: one directory walk, seconds at most.
const CALL_TIMEOUT_MS = 60_000;
// sha256sum reads the copy once, at disk speed: bound like the copy itself.
const CHECK_TIMEOUT_MS = 30 * 60_000;

/**
 * Ready to receive backup `id`: reachable, rsync and sha256sum there, directory made (0700),
 * `.incoming-*` older than any copy can run removed, `id` not taken (the gate's `begin`).
 */
export async function beginSsh(c: SshConn, root: string, id: string): Promise<void> {
  await sshCall(c, ['begin', root, id], { timeoutMs: CALL_TIMEOUT_MS, what: 'preparing the backup directory' });
}

export interface SshCopy {
  readonly id: string;
  readonly stagingDir: string;
  readonly manifest: BackupManifest;
  readonly logFile: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly say: (message: string, step: string, data?: Record<string, unknown>) => void;
}

/** `rsync` between here and the target over `c`'s ssh, up to COPY_ATTEMPTS tries (each resumes: --partial-dir). */
async function rsyncWithRetries(c: SshConn, from: string, to: string, o: Omit<SshCopy, 'id' | 'stagingDir' | 'manifest'>, what: string): Promise<void> {
  // -rlt, not -a: the target's gate takes no owner, group, mode or device (every file there is its user's, 0600).
  const args = ['-rlt', '--checksum', '--delete', '--partial-dir=.rsync-partial', `--timeout=${RSYNC_IO_TIMEOUT_S}`, '-e', c.ssh.join(' '), from, to];
  for (let attempt = 1; ; attempt++) {
    try {
      o.say(`${what}, attempt ${attempt} of ${COPY_ATTEMPTS}`, 'rsync', { target: c.name, attempt });
      await runTool('rsync', args, { logFile: o.logFile, timeoutMs: o.timeoutMs, signal: o.signal, what });
      return;
    } catch (e) {
      if (attempt >= COPY_ATTEMPTS || o.signal?.aborted) throw e;
      o.say(`${what} failed (${describeError(e).split('\n')[0] ?? ''}); resuming in ${(RETRY_DELAY_MS * attempt) / 1000} s`, 'rsync-retry', {
        target: c.name,
        attempt,
        warning: true,
      });
      await sleep(RETRY_DELAY_MS * attempt);
    }
  }
}

/** What differs between the manifest and `sha256sum`'s output over `dir` there. Pure. */
export function compareSums(m: BackupManifest, sha256sumOutput: string): string[] {
  const got = new Map<string, string>();
  for (const line of sha256sumOutput.split('\n')) {
    const x = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (x?.[1] && x[2]) got.set(x[2], x[1]);
  }
  const problems: string[] = [];
  for (const f of m.files) {
    const h = got.get(f.path);
    if (h === undefined) problems.push(`${f.path} is missing`);
    else if (h !== f.sha256) problems.push(`${f.path} differs from the manifest (sha256)`);
  }
  return problems;
}

/** The sha256 of every listed file of `dir` on the target, compared with the manifest; the problems. */
async function checkThere(c: SshConn, dir: string, m: BackupManifest): Promise<string[]> {
  // The list on stdin, one name a line: no argument list limit, no name ever in the request.
  const out = await sshCall(c, ['sums', dir], {
    timeoutMs: CHECK_TIMEOUT_MS,
    input: m.files.map((f) => `${f.path}\n`).join(''),
    what: 'sha256sum of the copy',
  });
  return compareSums(m, out);
}

export interface SshDelivered {
  readonly dir: string;
  readonly removed: ReadonlyArray<{ readonly id: string; readonly verification: BackupVerification }>;
}

/** After `beginSsh`: copy, check, rename, retention (see the header). */
export async function copyToSsh(t: BackupTarget, c: SshConn, o: SshCopy): Promise<SshDelivered> {
  const incoming = path.posix.join(t.root, `.incoming-${o.id}`);
  const finalDir = path.posix.join(t.root, o.id);
  try {
    await rsyncWithRetries(c, `${o.stagingDir}/`, `${c.destination}:${incoming}/`, o, `rsync over SSH to ${t.name} (${c.destination}:${incoming})`);
    o.say(`${t.name}: sha256sum of every file there, against the manifest`, 'check', { target: t.name });
    const problems = await checkThere(c, incoming, o.manifest);
    if (problems.length > 0) {
      throw new HastackError(ErrorCode.SETUP_FAILED, `the copy on ${t.name} does not match the manifest: ${problems.slice(0, 5).join('; ')}; check the disk of ${t.name}`);
    }
    // `.incoming-<id>/.rsync-partial` dropped, then one rename, never over an existing backup.
    await sshCall(c, ['finish', t.root, o.id], { timeoutMs: CALL_TIMEOUT_MS, what: `renaming backup ${o.id} into place` });
  } catch (e) {
    // Best effort: an unreachable target keeps its partial copy, which the next begin removes once stale.
    await sshCall(c, ['remove', incoming], { timeoutMs: CALL_TIMEOUT_MS, what: 'removing the failed copy' }).catch(() => undefined);
    throw e;
  }
  // Retention, only now that the new backup is complete, among this target's backups alone.
  const onTarget = (await listSsh(c, t)).map((b) => ({ id: b.id, verification: verificationOf(b.verification) }));
  const drop = backupsToRemove(onTarget, t.keep, o.id);
  if (drop.length > 0) {
    await sshCall(c, ['remove', ...drop.map((id) => path.posix.join(t.root, id))], { timeoutMs: CALL_TIMEOUT_MS, what: 'retention' });
  }
  return { dir: `${c.destination}:${finalDir}`, removed: drop.map((id) => ({ id, verification: onTarget.find((b) => b.id === id)?.verification ?? 'unverified' })) };
}

/** The complete backups on one SSH target: each `<id>/` with a manifest (and its verify.json), from the gate's `list`. */
async function listSsh(c: SshConn, t: BackupTarget): Promise<StoredBackup[]> {
  const out = await sshCall(c, ['list', t.root], { timeoutMs: CALL_TIMEOUT_MS, what: 'listing the backups' });
  const found: StoredBackup[] = [];
  for (const part of out.split(`\n${LIST_MARK}`).slice(1)) {
    const nl = part.indexOf('\n');
    const id = part.slice(0, nl);
    if (!isBackupId(id)) continue;
    const [manifestText = '', verifyText = ''] = part.slice(nl + 1).split(`\n${LIST_VERIFY_MARK}\n`);
    try {
      const manifest = manifestSchema.parse(JSON.parse(manifestText));
      const verification = parseVerifyResult(verifyText);
      found.push({
        id,
        node: t.name,
        dir: `${c.destination}:${path.posix.join(t.root, id)}`,
        manifest,
        offNode: true,
        sshTarget: t.name,
        ...(verification ? { verification } : {}),
      });
    } catch {
      // Not a readable manifest: not a complete backup (a list on this machine reports those apart).
    }
  }
  return found;
}

/** The backups on every SSH target, and a line per target that could not be listed (unreachable, ...). */
export async function listSshBackups(topo: Topology): Promise<{ backups: StoredBackup[]; failed: string[] }> {
  const backups: StoredBackup[] = [];
  const failed: string[] = [];
  const targets = sshTargets(topo);
  if (targets.length > 0) await ensureBackupIdentity(topo);
  for (const t of targets) {
    try {
      backups.push(...(await listSsh(sshConn(topo, t), t)));
    } catch (e) {
      failed.push(`${t.name}: ${describeError(e)}`);
    }
  }
  return { backups, failed };
}

/** Copies backup `b` (on an SSH target) into `localDir` with rsync, resumed like a delivery. */
export async function fetchSshBackup(topo: Topology, b: StoredBackup, localDir: string, o: Omit<SshCopy, 'id' | 'stagingDir' | 'manifest'>): Promise<void> {
  const t = sshTargets(topo).find((x) => x.name === b.sshTarget);
  if (!t) throw new HastackError(ErrorCode.NOT_FOUND, `backup ${b.id} is on ${b.node}, which is no SSH target in backup.targets any more`);
  fs.mkdirSync(localDir, { recursive: true, mode: 0o700 });
  const c = sshConn(topo, t);
  await rsyncWithRetries(c, `${c.destination}:${path.posix.join(t.root, b.id)}/`, `${localDir}/`, o, `rsync over SSH from ${t.name} (${b.dir})`);
}

/** Writes a verification result next to the backup on its SSH target (the gate's `put`: temporary name, then rename). Best effort by the caller. */
export async function putSshVerify(topo: Topology, b: StoredBackup, json: string): Promise<void> {
  const t = sshTargets(topo).find((x) => x.name === b.sshTarget);
  if (!t) return;
  await sshCall(sshConn(topo, t), ['put', path.posix.join(t.root, b.id, VERIFY_FILE)], {
    timeoutMs: CALL_TIMEOUT_MS,
    input: json,
    what: 'writing verify.json',
  });
}
