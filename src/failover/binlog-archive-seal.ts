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
 *
 * The file being streamed reaches the targets too, as it grows: each second the archiver ships
 * the bytes of its newly complete transactions as a chunk `<file>.tail-<offset>` (sealed like a
 * file, its context naming the chunk), so a restore after losing the archiving machine loses
 * about a second of commits, not up to a whole binlog file. A finished file replaces its chunks.
 * Chunk files rather than one rewritten file: each second costs the new bytes, not the file so far.
 * SSH targets (plain machines) get the same files and chunks through binlog-archive-ssh.ts, the
 * chunks every 10 s rather than every second (each costs an SSH connection).
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
  // A chunk's context is its own name (shipTail), so a chunk cannot be moved to another offset.
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

/** `<name>.tail-<offset>`: a chunk of a file being streamed, on a target (see the header). */
const TAIL_MARK = '.tail-';
/** The path readSegment gives a file a target holds only as chunks (`readBinlogFile` assembles it). */
export const TAIL_SUFFIX = '.tail';

/** A file's name without `.enc`, `.tail` or a chunk's `.tail-<offset>`: the binlog file's own name. */
export function binlogNameOf(n: string): string {
  return n.replace(/\.enc$/, '').replace(/\.tail(-\d+)?$/, '');
}

/** Ships bytes `offset..` of the streamed file `name` of segment `segDir` to every target as one chunk; returns the errors. */
export function shipTail(roots: readonly string[], segDir: string, name: string, offset: number, data: Buffer, key: BackupKey | undefined, segmentFile: string): string[] {
  const { chunk, body } = tailChunk(segDir, name, offset, data, key);
  return putOnTargets(roots, segDir, chunk, segmentFile, (tmp) => fs.writeFileSync(tmp, body, { mode: 0o600 }));
}

/** The chunk of bytes `offset..` of the streamed file `name`: its name on a target and its (sealed) bytes. */
export function tailChunk(segDir: string, name: string, offset: number, data: Buffer, key: BackupKey | undefined): { chunk: string; body: Buffer } {
  const chunk = `${name}${TAIL_MARK}${String(offset).padStart(12, '0')}${key ? ENCRYPTED_SUFFIX : ''}`;
  return { chunk, body: key ? encryptBuffer(key, data, `binlog/${path.basename(segDir)}/${chunk.replace(/\.enc$/, '')}`) : data };
}

/** The prefix of every chunk of `name` (to drop them once the finished file is on a target). */
export function tailPrefix(name: string): string {
  return `${name}${TAIL_MARK}`;
}

/** Removes the chunks of `name` from every target once the finished file is there. */
export function dropTails(roots: readonly string[], segment: string, name: string): void {
  for (const root of roots) {
    const dir = path.join(root, segment);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) if (n.startsWith(`${name}${TAIL_MARK}`)) fs.rmSync(path.join(dir, n), { force: true });
  }
}

/** The bytes a file's chunks hold, from 0 on while they are contiguous (a later chunk after a gap is of no use). */
function readTails(dir: string, name: string, key: BackupKey | undefined): Buffer {
  const chunks = fs
    .readdirSync(dir)
    .filter((n) => n.startsWith(`${name}${TAIL_MARK}`) && !n.startsWith('.'))
    .map((n) => ({ n, offset: Number(n.slice(name.length + TAIL_MARK.length).replace(/\.enc$/, '')) }))
    .sort((a, b) => a.offset - b.offset);
  const parts: Buffer[] = [];
  let end = 0;
  for (const c of chunks) {
    if (c.offset > end) break;
    const data = readBinlogFile(path.join(dir, c.n), key);
    if (c.offset + data.length > end) parts.push(data.subarray(end - c.offset));
    end = Math.max(end, c.offset + data.length);
  }
  return Buffer.concat(parts);
}

/** The plaintext of an archived file (sealed or not, or a target's chunks of it); BACKUP_KEY_MISSING without the key, BACKUP_TAMPERED when changed. */
export function readBinlogFile(file: string, key: BackupKey | undefined): Buffer {
  if (file.endsWith(TAIL_SUFFIX)) return readTails(path.dirname(file), path.basename(file).slice(0, -TAIL_SUFFIX.length), key);
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
  if (!file.endsWith(ENCRYPTED_SUFFIX) && !file.endsWith(TAIL_SUFFIX)) return file;
  fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(tmpDir, 0o700);
  const out = path.join(tmpDir, `${path.basename(path.dirname(file))}-${binlogNameOf(path.basename(file))}`);
  fs.writeFileSync(out, readBinlogFile(file, key), { mode: 0o600 });
  return out;
}

/** Every directory target's archive root. */
export function targetArchiveRoots(topo: Topology): string[] {
  return dirTargets(topo).map((t) => path.join(t.root, TARGET_ARCHIVE_DIR));
}

/** Copies a finished (sealed) file and its segment.json to every directory target; returns the errors (one per target). */
export function copyToTargets(roots: readonly string[], segDir: string, file: string, segmentFile: string): string[] {
  return putOnTargets(roots, segDir, path.basename(file), segmentFile, (tmp) => fs.copyFileSync(file, tmp));
}

/** `name` into segment `segDir`'s directory on every target (with its segment.json), written by `write` to a temporary file and renamed. */
function putOnTargets(roots: readonly string[], segDir: string, name: string, segmentFile: string, write: (tmp: string) => void): string[] {
  const errors: string[] = [];
  for (const root of roots) {
    try {
      const dest = path.join(root, path.basename(segDir));
      fs.mkdirSync(dest, { recursive: true, mode: 0o700 });
      const meta = path.join(dest, segmentFile);
      if (!fs.existsSync(meta)) fs.copyFileSync(path.join(segDir, segmentFile), meta);
      const tmp = path.join(dest, `.${name}.tmp`);
      write(tmp);
      fs.renameSync(tmp, path.join(dest, name));
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
export function sealLeftovers(
  root: string,
  key: BackupKey | undefined,
  targetRoots: readonly string[],
  segmentFile: string,
  onSealed: (segDir: string, file: string) => void = () => undefined,
): string[] {
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
      const failed = copyToTargets(targetRoots, dir, s.file, segmentFile);
      onSealed(dir, s.file);
      if (failed.length === 0) dropTails(targetRoots, seg, n);
      errors.push(...failed);
    }
  }
  return errors;
}
