import { z } from 'zod';
import { substrateTraits, type Config, type Secrets, type ServiceInstance, type ServiceReach } from '../config/index.js';
import type { ClusterEvent } from '../shared/events.js';

/**
 * A fault to inject or heal (the admin API's `POST /v1/faults` body, and `Runtime.fault`).
 * Node faults work on every runtime; the partition faults need `capabilities.networkFaults`.
 */
export const faultRequestSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('kill-node'), node: z.string() }).strict(),
  z.object({ action: z.literal('heal-node'), node: z.string() }).strict(),
  z.object({ action: z.literal('pause-node'), node: z.string() }).strict(),
  z.object({ action: z.literal('resume-node'), node: z.string() }).strict(),
  z.object({ action: z.literal('kill-service'), node: z.string(), service: z.string() }).strict(),
  // Partition faults (network namespaces). `@host` names the host: the supervisor and the clients.
  z.object({ action: z.literal('partition'), sides: z.tuple([z.array(z.string()).min(1), z.array(z.string()).min(1)]) }).strict(),
  z.object({ action: z.literal('isolate'), node: z.string(), fromHost: z.boolean().default(false) }).strict(),
  z.object({ action: z.literal('cut'), from: z.string(), to: z.string() }).strict(),
  z.object({ action: z.literal('heal-partition') }).strict(),
]);
export type FaultRequest = z.input<typeof faultRequestSchema>;

/** One row of `hastack status`; the JSON form is the public contract of `status --json`. */
export interface ServiceStatus {
  readonly node: string;
  readonly service: string;
  readonly address: string;
  readonly port: number;
  readonly pid: number | null;
  readonly role: string;
  readonly healthy: boolean;
  readonly detail?: string;
  readonly restarts: number;
  /** Set by the operator (issue 25): `stopped` (`hastack stop`, until `start`) or `drained` (`hastack drain`). */
  readonly operator?: 'stopped' | 'drained';
}

export interface ClusterStatus {
  readonly cluster: string;
  readonly supervisorPid: number | null;
  readonly state: string;
  readonly services: ServiceStatus[];
  /**
   * Set only when failover.auto is on but may not act (issue 23): off after a failed automatic
   * failover, or paused by the operator; one line saying why and what to run (`hastack resume`).
   */
  readonly autoFailover?: string;
  /** The binlog archive's status line where another machine keeps it (hosts: its host's agent). */
  readonly archive?: { readonly line: string; readonly warning: boolean };
}

/** What a runtime can do beyond the node faults every runtime has. */
export interface RuntimeCapabilities {
  /** Partition, isolate and cut faults between nodes (`FaultRequest`'s network actions). */
  readonly networkFaults: boolean;
  /**
   * A node's network can be cut while its admin socket here still answers: the crash plan judges
   * reachability over TCP as well (see `SubstrateTraits.tcpReachability`).
   */
  readonly tcpReachability: boolean;
  /** `up` starts the cluster from nothing on this machine; otherwise `hastack deploy` installs it first. */
  readonly startsFromNothing: boolean;
  /**
   * The nodes hold a copy of the cluster's secrets: `secrets pull` reads them back, and
   * `secrets rotate` changes them through each node's agent.
   */
  readonly secretsOnNodes: boolean;
  /**
   * `hastack stop|start|restart NODE[/SERVICE]` and `drain` act through this machine's supervisor
   * (issue 25); on hosts each service is a systemd unit, run by systemctl on its host.
   */
  readonly serviceControl: boolean;
}

/** What `Runtime.logs` returns: the tail of each log, in order. */
export interface LogTail {
  /** Where the log is, for the header line (a path here, or `node:path` on a host). */
  readonly where: string;
  readonly text: string;
  /** A file on this machine that `logs --follow` can poll; absent for a log on another machine. */
  readonly localFile?: string;
}

export interface RuntimeUpOptions {
  readonly onEvent?: (e: ClusterEvent) => void;
}

export interface RuntimeDownOptions {
  readonly onEvent?: (e: ClusterEvent) => void;
  /** One line per step, for a runtime without an event log here (hosts). */
  readonly say?: (line: string) => void;
  /** Also sweep what a crashed run left when no run is recorded (`down --force`). */
  readonly force?: boolean;
}

export interface RuntimeDownResult {
  readonly wasRunning: boolean;
  /** What was stopped, for the CLI's closing line. */
  readonly summary: string;
}

/**
 * Where the cluster runs, chosen once from the config (src/runtime `runtimeFor`): the supervised
 * runtime (one supervisor on this machine over the `local` or `netns` substrate, src/control) or
 * the hosts runtime (an agent per machine over SSH, src/hosts). Everything above the chooser asks
 * the runtime and its `capabilities`, never the substrate's name.
 *
 * Guarantees every implementation keeps (test/integration/runtime-conformance.test.ts):
 * - `up` returns once every service is healthy; `down` stops every service (reverse start
 *   order) and leaves no process of the cluster running; both are safe to re-run;
 * - `status` never throws for a service that is down: its row says `healthy: false`;
 * - `kill-node` SIGKILLs every process of the node and nothing restarts them until `heal-node`,
 *   which brings the node back healthy; `pause-node`/`resume-node` freeze and thaw it (SIGSTOP,
 *   SIGCONT) without it being restarted;
 * - a fault the runtime cannot do is refused with `BAD_REQUEST`, an unknown node `NOT_FOUND`;
 * - `recordRole` is where the node's next start reads its role: a killed and healed database
 *   node comes back in the role recorded, also when it was recorded while the node was down.
 */
/**
 * What the runtime of `config`'s substrate can do, known without loading it: the command line
 * asks before it loads the supervised runtime or the hosts' one (each a second of start-up).
 */
export function runtimeCapabilities(config: Config): RuntimeCapabilities {
  const t = substrateTraits(config);
  return t.supervised
    ? { networkFaults: t.networkFaults, tcpReachability: t.tcpReachability, startsFromNothing: true, secretsOnNodes: false, serviceControl: true }
    : { networkFaults: false, tcpReachability: t.tcpReachability, startsFromNothing: false, secretsOnNodes: true, serviceControl: false };
}

export interface Runtime {
  /** `supervised` or `hosts`: for messages. */
  readonly kind: string;
  readonly capabilities: RuntimeCapabilities;
  /** Starts the cluster (supervised: a detached supervisor; hosts: the units `deploy` installed). */
  up(o?: RuntimeUpOptions): Promise<void>;
  down(o?: RuntimeDownOptions): Promise<RuntimeDownResult>;
  /** Probes every service now (in parallel, each bounded by `timeoutMs`). */
  status(secrets: Secrets, timeoutMs?: number): Promise<ClusterStatus>;
  /** The last `lines` lines of each log of a node, or of one service on it. */
  logs(node: string, service: string | undefined, lines: number): Promise<LogTail[]>;
  /** Injects or heals one fault; resolves once it is in place. */
  fault(f: FaultRequest): Promise<Record<string, unknown>>;
  /** The crash plan's fence: SIGKILL every process of the node and keep it down (a `kill-node`). */
  fenceNode(node: string): Promise<void>;
  /** Real hosts: `db`'s role recorded as replica and `node` killed, in one call on its machine (failover/fence.ts `NodeFencer`). */
  fenceMachine?(node: string, db: ServiceInstance): Promise<void>;
  /** Records a database node's role where its next start reads it (the crash plan's role record). */
  recordRole(svc: ServiceInstance, role: 'primary' | 'replica'): Promise<void>;
  /** How a client on this machine reaches the service for admin work. */
  reach(svc: ServiceInstance): ServiceReach;
}
