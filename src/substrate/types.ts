import type { ProcessSpec } from '../registry/index.js';
import type { ServiceInstance } from '../config/index.js';
import type { Link } from './links.js';

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
  /**
   * Creates what the nodes need before any service starts (namespaces, bridge); removes any
   * leftover of an earlier run of the same cluster first. Absent when nodes need no setup.
   */
  prepare?(): Promise<void>;
  /** Removes everything `prepare` created, and any leftover of a crashed run. Idempotent. */
  release?(): Promise<void>;
  /** Network faults; absent on substrates where nodes share one network (`local`). */
  readonly network?: NetworkFaults;
}

export interface NetworkFaults {
  /**
   * Makes exactly `links` cut (an empty list heals every cut). A cut link drops packets, so a
   * connection across it hangs as in a real partition instead of being refused.
   */
  setCutLinks(links: readonly Link[]): Promise<void>;
}
