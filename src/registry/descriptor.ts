import type { Config, SecretName, ServiceKind } from '../config/index.js';
import type { EngineBinary } from './programs.js';

/** A Debian program a service kind runs, and when a host carrying that kind needs it. */
export interface ProgramNeed extends EngineBinary {
  /** When a host running this kind needs it (deploy's preflight); absent: always. */
  readonly onHostWhen?: (config: Config) => boolean;
  /**
   * Deploy asks dpkg whether the package is installed rather than looking for the binary: its
   * preflight reports it as a package (keepalived, started by its own unit by name).
   */
  readonly checkPackage?: true;
}

/** A cluster-wide step of `up` between two start groups. */
export type ClusterStep = 'sentinels-ready' | 'migrate';

/** Which instance of a kind leads: it starts alone before the others and stops after them. */
export type Leader = 'db-primary' | 'redis-master';

/** How the instances of one kind start (and, in reverse, stop). */
export type StartGrouping =
  | { readonly type: 'together'; readonly label: string }
  | {
      /** The leader alone first, then the others (so they have something to attach to). */
      readonly type: 'leader-first';
      readonly leader: Leader;
      readonly leaderLabel: string;
      readonly restLabel: string;
      /** When the others start one at a time (Galera joiners: a donor serves one state transfer). */
      readonly oneAtATime?: { readonly when: (config: Config) => boolean; readonly label: (node: string) => string };
    };

/** A `role:<name>` chaos target: a node running `kind`, with `role` in its probe when set. */
export interface ChaosRole {
  readonly name: string;
  /** The role the probe reports (`master`, `primary`, ...); absent: any instance of the kind. */
  readonly role?: string;
}

/** The config sections (top-level keys of hastack.yaml) a service's rendered config reads. */
export type ConfigSection = keyof Config;

/**
 * Everything a runner (supervisor, hosts agent, deploy, chaos, doctor) needs to know about one
 * service kind, as data. Its driver (how to prepare, run and probe it) lives with the engines or
 * tiers that implement it (src/drivers); this is what can be known without loading them.
 */
export interface ServiceDescriptor {
  readonly kind: ServiceKind;
  /**
   * `engine`: a Debian program hastack configures and runs; `ours`: one of hastack's own Node
   * processes (`hastack _service KIND`), which reads topology.json and its own copy of the secrets.
   */
  readonly origin: 'engine' | 'ours';
  /** The Debian programs it runs; our own kinds need only Node. */
  readonly programs: readonly ProgramNeed[];
  /** Its place in `up`'s order (ascending; `down` stops in the reverse order). Unique per kind. */
  readonly startRank: number;
  readonly start: StartGrouping;
  /** A cluster-wide step taken right before this kind's group, always (migrations before the app). */
  readonly stepBefore?: ClusterStep;
  /** A cluster-wide step taken right after this kind's group, when the kind has instances. */
  readonly stepAfter?: ClusterStep;
  /** Between SIGTERM and SIGKILL when stopping it. */
  readonly stopGraceMs: number;
  /**
   * The start budget of its unit on a host (ExecStartPre included); absent: the common one. A
   * MariaDB replica's prepare may provision its datadir from a live node first.
   */
  readonly hostStartTimeoutMs?: number;
  /**
   * The config sections its rendered config and command read, besides what every service reads
   * (its own instance, the cluster name, the node list, ports, supervisor settings, the app
   * module): a change of one of them restarts it at `deploy`; a change elsewhere leaves it running.
   * Order matters: it is the key order of the unit inputs `deploy` compares.
   */
  readonly restartOn: readonly ConfigSection[];
  /** The `role:<name>` targets chaos faults may name for this kind. */
  readonly chaosRoles: readonly ChaosRole[];
  /** The secrets it reads: what a node carrying it holds (plus the controller's, see secretNeeds). */
  readonly secrets: readonly SecretName[];
}
