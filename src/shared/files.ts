import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StateCorruptError } from './errors.js';

/** The last `lines` lines of a file ('' when it does not exist); reads at most the last 64 KiB. */
export function tailFile(file: string, lines: number): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    const all = buf.toString('utf8').split('\n');
    if (all[all.length - 1] === '') all.pop();
    return all.slice(-lines).join('\n');
  } finally {
    fs.closeSync(fd);
  }
}

/** fsync of a directory, so a rename (or a new file) in it survives a power cut. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory (EINVAL); the rename itself is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * The one way hastack writes a state or config file: a temp file beside it (same filesystem),
 * written, given its exact mode and fsynced, then renamed over the file, then the directory
 * fsynced. A reader sees the old file or the new one, never half of one, also after a crash or
 * a power cut; a full disk fails here (the temp file is removed) and leaves the old file as it was.
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    try {
      fs.writeFileSync(fd, data);
      // The open's mode went through the umask: set it exactly.
      fs.fchmodSync(fd, mode);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

/**
 * For a file another program wrote at `tmp` (openssl): fsync it, rename it over `file`, fsync
 * the directory, as `writeFileAtomic` does for the files we write ourselves.
 */
export function renameDurably(tmp: string, file: string): void {
  const fd = fs.openSync(tmp, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

/** JSON through `writeFileAtomic`. */
export function writeJsonAtomic(file: string, value: unknown, mode = 0o644): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', mode);
}

/**
 * Reads a JSON state file: undefined when it does not exist; a StateCorruptError (saying what to
 * do) when it exists but does not parse or `check` rejects it. Never "absent" for a bad file.
 */
export function readJsonState<T>(file: string, check: (v: unknown) => string | undefined, whatToDo: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateCorruptError(file, `unreadable: ${(e as Error).message}`, whatToDo);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new StateCorruptError(file, text.trim() === '' ? 'empty' : `not JSON: ${(e as Error).message}`, whatToDo);
  }
  const problem = check(v);
  if (problem !== undefined) throw new StateCorruptError(file, problem, whatToDo);
  return v as T;
}

/** Bytes of the regular files under `dir`, recursively (symbolic links not followed). */
export function dirBytes(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : e.isFile() ? fs.statSync(p).size : 0;
  }
  return n;
}
