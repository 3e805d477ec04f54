import type { Secrets, ServiceInstance, Topology } from '../config/index.js';

/** What to execute for one service: the substrate runs it (as a child process on `local`). */
export interface ProcessSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** Everything a driver needs to act on one service of one cluster. */
export interface ServiceContext {
  readonly topo: Topology;
  readonly secrets: Secrets;
  readonly svc: ServiceInstance;
  /** True when this process runs as root: MariaDB then needs `--user=root`, memcached `-u root`. */
  readonly asRoot: boolean;
}

/** The result of one health probe. `role` is what `hastack status` shows. */
export interface ProbeResult {
  readonly healthy: boolean;
  /** `primary`/`replica` (MariaDB), `master`/`replica` (Redis), `sentinel`, or the service kind. */
  readonly role: string;
  /** One line for humans: why unhealthy, or extra facts (lag, master address). */
  readonly detail?: string;
}

/**
 * How hastack runs one kind of service. The supervisor owns processes (start, watch, restart,
 * stop); a driver only knows its engine: files, command line, probe, and cluster wiring.
 */
export interface ServiceDriver {
  /**
   * Creates directories and renders config. Idempotent and called before every (re)start;
   * must not overwrite files the engine rewrites itself (Sentinel's config, Redis after failover).
   */
  prepare(ctx: ServiceContext): Promise<void>;
  /** The command line of the long-running process. */
  command(ctx: ServiceContext): ProcessSpec;
  /** One bounded health probe; never throws (an error is `healthy: false` with the reason). */
  probe(ctx: ServiceContext, timeoutMs: number): Promise<ProbeResult>;
  /**
   * Runs once this instance is healthy at `up`, before the next one starts: cluster wiring such as
   * creating users or pointing a replica at its primary. Idempotent (re-run on every `up`).
   */
  afterHealthy?(ctx: ServiceContext): Promise<void>;
  /**
   * Opt-in liveness restarts: once the service has been healthy (or had its start budget), this
   * many consecutive failed periodic probes make the supervisor SIGKILL and restart it. Only for
   * a service whose probe fails solely when a restart helps (the worker: no progress); unset, a
   * failing probe is only reported, never acted on (an engine failing over must not be killed).
   */
  readonly livenessFailures?: number;
  /** Files to show the tail of when the service fails to start (besides its stdout/stderr log). */
  logFiles?(ctx: ServiceContext): string[];
}
