import { DB_APP_USER, NodeProber, parseGtidPos, planRoutes, type NodeState, type ProbeTarget, type RoutePlan } from '../clients/db/index.js';
import { appDbServices } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { decideReaders, decideWriter, EMPTY_MEMORY, type DbMemory } from './db-decide.js';
import { EndpointCore, type Routing } from './endpoint.js';
import { LagClock } from './lag.js';

// 300 ms between probe rounds: the db router's own period (src/clients/db), so a writer change is
// seen within ~0.3 s plus the round; each round is one small query per node per endpoint.
const ROUND_MS = 300;
// 50 ms between rounds while nothing is ready (no writer: new connections are held): the hold ends
// within 50 ms of the promotion becoming visible. Only during an outage, so the extra probes are
// bounded by its length.
const HOLD_ROUND_MS = 50;
// 1 s to connect for a probe: a LAN connect takes well under 1 ms; a dead node must not hold the round.
const PROBE_CONNECT_MS = 1_000;

type Decide = (plan: RoutePlan, states: readonly NodeState[], prev: DbMemory) => { routing: Routing; memory: DbMemory };

/**
 * The follower of both database endpoints: a probe round of every MariaDB node every ROUND_MS
 * with the db router's prober (as the app's account; the password from the service's secrets,
 * never argv), the router's `planRoutes`, then the endpoint's decision (db-decide.ts) applied to
 * HAProxy. A dial that failed asks for a round at once.
 */
export class DbFollower {
  readonly #prober: NodeProber;
  readonly #nodes: readonly ProbeTarget[];
  #memory: DbMemory = EMPTY_MEMORY;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #holding = false;
  #closed = false;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly core: EndpointCore,
    private readonly decide: Decide,
    private readonly log: Logger,
  ) {
    const { topo, secrets } = ctx;
    this.#nodes = appDbServices(topo).map((s) => ({ id: s.node, address: s.address, port: s.port }));
    this.#prober = new NodeProber(topo.config.database.mode, {
      user: DB_APP_USER,
      password: secrets.dbAppPassword,
      database: topo.config.database.name,
      connectTimeoutMs: PROBE_CONNECT_MS,
      // A probe connection that breaks between rounds (the node died): a round at once, so a dead
      // writer is noticed in milliseconds, not at the next round.
      onLost: () => void this.refresh(),
    });
    core.onSuspect(() => void this.refresh());
  }

  /** The first round (so the endpoint starts with a routing), then one every ROUND_MS. */
  async start(): Promise<void> {
    await this.refresh();
    this.#schedule();
  }

  /** A round now, or the one in flight. */
  refresh(): Promise<void> {
    this.#round ??= this.#runRound()
      .catch((e: unknown) => this.log.warn(`${this.ctx.svc.kind}: probe round failed: ${describeError(e)}`))
      .finally(() => {
        this.#round = undefined;
      });
    return this.#round;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#prober.close();
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.refresh().finally(() => this.#schedule()), this.#holding ? HOLD_ROUND_MS : ROUND_MS);
  }

  async #runRound(): Promise<void> {
    const states = await Promise.all(this.#nodes.map((n) => this.#prober.probe(n)));
    if (this.#closed) return;
    const mode = this.ctx.topo.config.database.mode;
    // Lag in transactions is not the endpoints' measure (maxReplicaLagS is): no bound here.
    const plan = planRoutes(states, { mode, maxLagTransactions: Number.MAX_SAFE_INTEGER });
    const { routing, memory } = this.decide(plan, states, this.#memory);
    this.#memory = memory;
    this.#holding = routing.ready.length === 0;
    await this.core.route(routing);
  }
}

/** `db-read-endpoint`'s decision with its lag clock (replication mode), fed by each round. */
function readDecision(ctx: ServiceContext): Decide {
  const { maxReplicaLagS } = ctx.topo.config.endpoints;
  const timed = ctx.topo.config.database.mode === 'replication';
  // Remember a little more than the bound, so a replica just past it is measured, not "far".
  const clock = new LagClock((maxReplicaLagS + 2) * 1000);
  let writer: string | undefined;
  return (plan, states, prev) => {
    const now = Date.now();
    const w = states.find((s) => s.id === plan.writer);
    if (plan.writer !== writer) clock.reset();
    writer = plan.writer;
    if (w?.reachable === true) clock.record(now, parseGtidPos(w.binlogPos));
    const lagS = (id: string): number => {
      const applied = plan.appliedPos.get(id);
      return applied === undefined ? Number.POSITIVE_INFINITY : clock.lagS(applied, now);
    };
    return decideReaders(plan, states, prev, { lagS, maxLagS: maxReplicaLagS, timed });
  };
}

export interface RunningEndpoint {
  close(): Promise<void>;
}

async function startDb(ctx: ServiceContext, log: Logger, decide: Decide): Promise<RunningEndpoint> {
  const kind = ctx.svc.kind === 'db-read-endpoint' ? 'db-read-endpoint' : 'db-endpoint';
  const servers = appDbServices(ctx.topo).map((s) => ({ id: s.node, host: s.address, port: s.port }));
  const core = new EndpointCore(ctx, kind, servers, log, (why) => {
    log.error(`${kind}: ${why}; exiting so the supervisor restarts the endpoint`);
    process.exit(1);
  });
  await core.start();
  const follower = new DbFollower(ctx, core, decide, log);
  await follower.start();
  return {
    async close() {
      follower.close();
      await core.close();
    },
  };
}

/** `_service db-endpoint`: the current writer. */
export function startDbEndpoint(ctx: ServiceContext, log: Logger): Promise<RunningEndpoint> {
  return startDb(ctx, log, decideWriter);
}

/** `_service db-read-endpoint`: readable nodes, else the writer. */
export function startDbReadEndpoint(ctx: ServiceContext, log: Logger): Promise<RunningEndpoint> {
  return startDb(ctx, log, readDecision(ctx));
}
