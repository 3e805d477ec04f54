import type { ProcessSpec } from '../engines/types.js';
import type { ServiceInstance } from '../config/index.js';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A process the substrate started for one service. */
export interface RunningProcess {
  readonly pid: number;
  /** Resolves once the process has exited, however it ended. */
  readonly exited: Promise<ExitInfo>;
}

/**
 * Where nodes live. Guarantees every implementation keeps (the conformance suite checks them):
 * - `spawn` starts the service on its node's address and returns at once with its pid; the
 *   process's stdout and stderr are appended to `logFile`;
 * - a service's process and everything it forks form one group that `signal` reaches whole;
 * - `signal` of a pid that is gone is a no-op, never an exception;
 * - nothing the substrate started outlives `signal(pid, 'SIGKILL')`.
 */
export interface Substrate {
  readonly name: string;
  spawn(svc: ServiceInstance, spec: ProcessSpec, logFile: string): RunningProcess;
  signal(pid: number, sig: NodeJS.Signals): void;
  /** Whether the process (group leader) is still running. */
  isAlive(pid: number): boolean;
}
