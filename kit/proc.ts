/**
 * What /proc says about processes, read directly (no `ps` parsing): for tests and benches that
 * check what a process group holds or find a server's workers.
 */
import fs from 'node:fs';

export interface ProcStat {
  readonly pid: number;
  /** R, S, D, Z (zombie), T (stopped), ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
}

/** /proc/<pid>/stat, or undefined once the process is gone. */
export function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state, ppid, pgrp, ...
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: f[0] ?? '?', ppid: Number(f[1]), pgrp: Number(f[2]) };
  } catch {
    return undefined;
  }
}

/** Every live process (zombies included) whose stat matches. */
export function processesWhere(match: (s: ProcStat) => boolean): ProcStat[] {
  const out: ProcStat[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = procStat(Number(e));
    if (s !== undefined && match(s)) out.push(s);
  }
  return out;
}
