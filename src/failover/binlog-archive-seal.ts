import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { decryptBuffer, encryptBuffer, ENCRYPTED_SUFFIX, type BackupKey } from './backup-crypt.js';
import { currentBackupKey } from './backup-seal.js';
import { dirTargets } from './backup-targets.js';

/*
 * Archived binlog files at rest (issue 24): with `backup.keyFile` set, every finished binlog file
 * of the archive is encrypted with the backups' key and format (backup-crypt.ts) into
 * `<file>.enc` and the plaintext removed. The context is `binlog/<segment>/<file>`, so a sealed
 * file decrypts only in its place. The file being streamed stays plaintext until the stream
 * rotates past it (max_binlog_size) or ends (a role change, a stop): the window is bounded by one
 * binlog file, kept in the archive's 0700 directory on the machine that archives (which holds the
 * live data's binlogs anyway). Sealed files and each segment's segment.json are then copied to
 * every directory target (`<dir>/<cluster>/binlog-archive/<segment>/`), pruned with the archive.
 */

export const TARGET_ARCHIVE_DIR = 'binlog-archive';

/** The key archived binlogs are sealed with: backup.keyFile, refused inside a directory target. */
export function archiveKey(topo: Topology): BackupKey | undefined {
  return currentBackupKey(
    topo,
    dirTargets(topo).map((t) => t.root),
  );
}

function contextOf(file: string): string {
  const name = path.basename(file).replace(/\.enc$/, '');
  return `binlog/${path.basename(path.dirname(file))}/${name}`;
}

/** Seals a finished archive file (when `key` is set); returns the file that now holds it and its size. */
export function sealBinlogFile(file: string, key: BackupKey | undefined): { file: string; bytes: number } {
  if (!key || file.endsWith(ENCRYPTED_SUFFIX)) return { file, bytes: fs.statSync(file).size };
  const sealed = `${file}${ENCRYPTED_SUFFIX}`;
  const tmp = path.join(path.dirname(file), `.${path.basename(sealed)}.tmp`);
  fs.writeFileSync(tmp, encryptBuffer(key, fs.readFileSync(file), contextOf(file)), { mode: 0o600 });
  fs.renameSync(tmp, sealed);
  fs.rmSync(file);
  return { file: sealed, bytes: fs.statSync(sealed).size };
}

/** The plaintext of an archived file (sealed or not); BACKUP_KEY_MISSING without the key, BACKUP_TAMPERED when changed. */
export function readBinlogFile(file: string, key: BackupKey | undefined): Buffer {
  const data = fs.readFileSync(file);
  if (!file.endsWith(ENCRYPTED_SUFFIX)) return data;
  if (!key) {
    throw new HastackError(
      ErrorCode.BACKUP_KEY_MISSING,
      `archived binlog ${file} is encrypted and backup.keyFile is unset; set it to the file holding the backup key and run again`,
      { details: { file } },
    );
  }
  return decryptBuffer(key, data, contextOf(file));
}

/** Plaintext of `file` for a tool that reads files (mariadb-binlog), under `tmpDir` (made 0700); `file` itself when not sealed. */
export function plainCopy(file: string, key: BackupKey | undefined, tmpDir: string): string {
  if (!file.endsWith(ENCRYPTED_SUFFIX)) return file;
  fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(tmpDir, 0o700);
  const out = path.join(tmpDir, `${path.basename(path.dirname(file))}-${path.basename(file).replace(/\.enc$/, '')}`);
  fs.writeFileSync(out, readBinlogFile(file, key), { mode: 0o600 });
  return out;
}

/** Every directory target's archive root. */
export function targetArchiveRoots(topo: Topology): string[] {
  return dirTargets(topo).map((t) => path.join(t.root, TARGET_ARCHIVE_DIR));
}

/** Copies a finished (sealed) file and its segment.json to every directory target; returns the errors (one per target). */
export function copyToTargets(roots: readonly string[], segDir: string, file: string, segmentFile: string): string[] {
  const errors: string[] = [];
  for (const root of roots) {
    try {
      const dest = path.join(root, path.basename(segDir));
      fs.mkdirSync(dest, { recursive: true, mode: 0o700 });
      const meta = path.join(dest, segmentFile);
      if (!fs.existsSync(meta)) fs.copyFileSync(path.join(segDir, segmentFile), meta);
      const tmp = path.join(dest, `.${path.basename(file)}.tmp`);
      fs.copyFileSync(file, tmp);
      fs.renameSync(tmp, path.join(dest, path.basename(file)));
    } catch (e) {
      errors.push(`${root}: ${(e as Error).message}`);
    }
  }
  return errors;
}

/** Removes pruned segments from every directory target too (the same retention as the archive). */
export function pruneTargets(roots: readonly string[], segmentNames: readonly string[]): void {
  for (const root of roots) for (const n of segmentNames) fs.rmSync(path.join(root, n), { recursive: true, force: true });
}

/**
 * Segments a previous archiver left (stopped before it sealed its last file, e.g. killed): every
 * plaintext file in them is sealed and copied now, when the archiver starts a new segment.
 */
export function sealLeftovers(root: string, key: BackupKey | undefined, targetRoots: readonly string[], segmentFile: string): string[] {
  const errors: string[] = [];
  let segs: string[];
  try {
    segs = fs.readdirSync(root).filter((n) => /^\d{6}-/.test(n));
  } catch {
    return errors;
  }
  for (const seg of segs) {
    const dir = path.join(root, seg);
    for (const n of fs.readdirSync(dir)) {
      if (n === segmentFile || n.startsWith('.') || n.endsWith(ENCRYPTED_SUFFIX) || !key) continue;
      const s = sealBinlogFile(path.join(dir, n), key);
      errors.push(...copyToTargets(targetRoots, dir, s.file, segmentFile));
    }
  }
  return errors;
}
