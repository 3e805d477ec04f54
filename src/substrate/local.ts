import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ServiceInstance } from '../config/index.js';
import type { ProcessSpec } from '../registry/index.js';
import { appendLog } from '../shared/logfile.js';
import type { ExitInfo, RunningProcess, Substrate } from './types.js';

/**
 * `local`: every node is a loopback address on this machine (Linux routes all of 127.0.0.0/8 to
 * `lo`, so binding 127.0.10.3 needs no setup) and every service is a child process.
 */
export class LocalSubstrate implements Substrate {
  readonly name = 'local';

  spawn(_svc: ServiceInstance, spec: ProcessSpec, logFile: string): RunningProcess {
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const fd = fs.openSync(logFile, 'a');
    try {
      const child = spawn(spec.command, [...spec.args], {
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        // Its own process group: a node kill reaches the whole service (mariadbd's helpers too),
        // and a Ctrl-C in the operator's terminal reaches only the supervisor, which then stops
        // services in reverse dependency order instead of all at once.
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      const exited = new Promise<ExitInfo>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.once('error', (err) => {
          appendLog(logFile, `hastack: could not start ${spec.command}: ${err.message}\n`);
          resolve({ code: 127, signal: null });
        });
      });
      // The supervisor does not wait on the child's event loop reference: it watches `exited`.
      child.unref();
      return { pid: child.pid ?? -1, exited };
    } finally {
      fs.closeSync(fd);
    }
  }

  signal(pid: number, sig: NodeJS.Signals): void {
    if (pid <= 0) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  }

  isAlive(pid: number): boolean {
    if (pid <= 0) return false;
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    // A zombie (exited, not yet reaped by a parent that died) is not alive.
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state !== 'Z';
    } catch {
      return true;
    }
  }
}

/** The command line of a running pid (to make sure a pid from a state file is still ours). */
export function processCommandLine(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/**
 * When a pid started (ms since the epoch), from /proc; used to check that a pid recorded in a
 * state file still belongs to the process we started and not to a newer one that reused it.
 */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]); // field 22 of stat; 20th after the command name
    const btimeLine = fs
      .readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('btime '));
    const btime = Number(btimeLine?.split(' ')[1]);
    // USER_HZ is 100 on every Linux Node runs on; /proc exposes no portable way to read it.
    return (btime + startTicks / 100) * 1000;
  } catch {
    return undefined;
  }
}
