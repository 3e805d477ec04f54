import fs from 'node:fs';

/*
 * Every log hastack writes itself goes through here: bounded by rotation, and never throwing.
 * Logging must not take down the process that keeps the cluster alive (a full disk made the
 * event log's append throw inside the supervisor's promise callbacks). A failed append is
 * counted per file; the caller reports the count once writing works again (events.ts does).
 */

/** Rotation bound for hastack's own logs: 8 MiB, plus one rotated copy (`<file>.1`). */
export const DEFAULT_LOG_MAX_BYTES = 8 * 1024 * 1024;

export interface LostWrites {
  /** Appends that failed since the last successful one. */
  readonly count: number;
  readonly firstAt: string;
  readonly lastError: string;
}

const lost = new Map<string, LostWrites>();
let totalLost = 0;

/** Appends that failed in this process, all files, since it started (for status). */
export function lostLogWrites(): number {
  return totalLost;
}

/**
 * Moves `file` to `file.1` (replacing an older one) once it is over `maxBytes`. Writers that
 * open the path per append (ours) continue in a fresh file; a process holding the file open
 * (a service's stdout) is handled by `truncateIfOver`.
 */
function rotateIfOver(file: string, maxBytes: number): void {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return;
  }
  if (size < maxBytes) return;
  fs.renameSync(file, `${file}.1`);
}

/** Whether `file` is empty or missing, or ends with a newline. */
function endsLine(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return true;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return true;
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, size - 1);
    return b[0] === 0x0a;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Appends `text` to `file`, rotating it past `maxBytes`. Never throws: returns false and counts
 * the failure (ENOSPC, EROFS, EACCES...). On the first success after failures, `onRecovered`
 * gets what was lost, before `text` is written.
 */
export function appendLog(file: string, text: string, opts: { maxBytes?: number; onRecovered?: (l: LostWrites) => string | undefined } = {}): boolean {
  try {
    rotateIfOver(file, opts.maxBytes ?? DEFAULT_LOG_MAX_BYTES);
    const was = lost.get(file);
    const note = was && opts.onRecovered ? opts.onRecovered(was) : undefined;
    // A write that failed may have written part of its line (a short write before ENOSPC): end
    // that line first, or the next one would be glued to it and unreadable (CI saw the log.lost
    // note itself lost that way).
    const torn = was !== undefined && !endsLine(file) ? '\n' : '';
    fs.appendFileSync(file, torn + (note !== undefined ? note + text : text));
    lost.delete(file);
    return true;
  } catch (e) {
    const was = lost.get(file);
    lost.set(file, { count: (was?.count ?? 0) + 1, firstAt: was?.firstAt ?? new Date().toISOString(), lastError: (e as Error).message });
    totalLost++;
    return false;
  }
}

/**
 * For a log a process writes through an inherited O_APPEND descriptor (a service's stdout): once
 * over `maxBytes`, its last quarter is copied to `file.1` and the file truncated in place; the
 * writer continues at the new end (O_APPEND). Never throws; returns true when it truncated.
 */
export function truncateIfOver(file: string, maxBytes: number): boolean {
  try {
    const size = fs.statSync(file).size;
    if (size < maxBytes) return false;
    const keep = Math.min(size, Math.floor(maxBytes / 4));
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(keep);
      fs.readSync(fd, buf, 0, keep, size - keep);
      fs.writeFileSync(`${file}.1`, buf);
    } catch {
      // No room for the copy: the tail is dropped, the bound matters more than the old lines.
    } finally {
      fs.closeSync(fd);
    }
    fs.truncateSync(file, 0);
    return true;
  } catch {
    return false;
  }
}
