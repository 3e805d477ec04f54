import fs from 'node:fs';
import path from 'node:path';

/**
 * Listening TCP sockets from /proc, mapped to the processes that hold them: `/proc/<pid>/net/tcp{,6}`
 * is the view of that pid's network namespace (so this works on netns too), and
 * `/proc/<pid>/fd/*` links name the socket inodes each process holds.
 */

/** TCP_LISTEN in /proc/net/tcp's `st` column. */
const LISTEN = '0A';

export interface ProcListener {
  readonly address: string;
  readonly port: number;
  readonly inode: number;
}

/** A 32-bit word of /proc/net/tcp (host byte order; little-endian on every machine we run on). */
function wordBytes(hex: string): number[] {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** `0100007F` → 127.0.0.1; 32 hex digits → an IPv6 address (`::` compressed, v4-mapped shown as v4). */
export function decodeProcAddress(hex: string): string {
  if (hex.length === 8) return wordBytes(hex).join('.');
  const bytes: number[] = [];
  for (let i = 0; i < 32; i += 8) bytes.push(...wordBytes(hex.slice(i, i + 8)));
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  const text = groups.join(':');
  if (text === '0:0:0:0:0:0:0:0') return '::';
  return text.replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** The listening sockets of a /proc/net/tcp or tcp6 text. */
export function parseProcNetTcp(text: string): ProcListener[] {
  const out: ProcListener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== LISTEN) continue;
    const [addr, port] = (f[1] ?? '').split(':');
    if (addr === undefined || port === undefined) continue;
    out.push({ address: decodeProcAddress(addr), port: Number.parseInt(port, 16), inode: Number(f[9]) });
  }
  return out;
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Socket inodes a process holds (empty when it is gone or not ours to read). */
function socketInodes(pid: number): Set<number> {
  const inodes = new Set<number>();
  let fds: string[] = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(path.join(`/proc/${pid}/fd`, fd)));
      if (m?.[1] !== undefined) inodes.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The pid and every descendant (a service started through `sh -c` listens from a child). */
export function withDescendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [pid];
  }
  for (const e of entries) {
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so split after the last ')'.
    const stat = readOr(`/proc/${e}/stat`);
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isFinite(ppid)) children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
  }
  const out: number[] = [];
  const todo = [pid];
  // Bounded: a pid appears once (a /proc race cannot loop us).
  while (todo.length > 0 && out.length < 1_000) {
    const p = todo.pop() as number;
    if (out.includes(p)) continue;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** The TCP listening sockets the given processes hold, as seen in their own network namespace. */
export function listenersOf(pids: readonly number[]): Array<ProcListener & { pid: number }> {
  const out: Array<ProcListener & { pid: number }> = [];
  for (const pid of pids) {
    const mine = socketInodes(pid);
    if (mine.size === 0) continue;
    for (const table of ['tcp', 'tcp6']) {
      for (const l of parseProcNetTcp(readOr(`/proc/${pid}/net/${table}`))) if (mine.has(l.inode)) out.push({ ...l, pid });
    }
  }
  return out;
}

/** The real uid of a process (`Uid:` of /proc/<pid>/status); undefined when it is gone. */
export function uidOf(pid: number): number | undefined {
  const m = /^Uid:\s+(\d+)/m.exec(readOr(`/proc/${pid}/status`));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}
