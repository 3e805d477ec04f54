import type { Logger } from '../../shared/log.js';
import type { NodeProber, ProbeTarget } from './prober.js';
import { planRoutes, type NodeState, type RoutePlan, type RoutingPolicy } from './routing.js';

/**
 * A node the last round found unreachable gets this long in the next one before the round goes
 * on without it (its probe keeps running, and the next round waits on that same probe). A node
 * cut off by a partition drops the connect: without this, every round, and so every held write
 * after a promotion, waited its full connect timeout (2 s), measured as 2-3.5 s of the write gap.
 * A live node answers a probe within a few ms.
 */
const UNREACHABLE_GRACE_MS = 250;

/**
 * Keeps the router's picture of the cluster fresh: one probe round of every node every
 * `intervalMs` in the background (an unref'd timer, so it never keeps a process alive), and a
 * round on demand (`refresh`, after any connection error). Concurrent demands share one round.
 */
export class TopologyWatcher {
  private current: RoutePlan | undefined;
  private round: Promise<RoutePlan> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
  /** Probes in flight per node, shared by the rounds that overlap them. */
  private readonly inflight = new Map<string, Promise<NodeState>>();
  private readonly unreachable = new Set<string>();

  constructor(
    private readonly nodes: readonly ProbeTarget[],
    private readonly prober: NodeProber,
    private readonly policy: RoutingPolicy,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly onPlan: (plan: RoutePlan, previous: RoutePlan | undefined) => void,
  ) {}

  /** The last plan, or undefined before the first round finished. */
  get latest(): RoutePlan | undefined {
    return this.current;
  }

  /** Starts the background rounds (idempotent). */
  start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.schedule();
  }

  /** A new probe round now (or the one in flight). */
  refresh(): Promise<RoutePlan> {
    this.round ??= this.runRound().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.prober.close();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.refresh()
        .catch((e: unknown) => this.log.warn({ err: e }, 'MariaDB probe round failed'))
        .finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  private async runRound(): Promise<RoutePlan> {
    const states = await Promise.all(this.nodes.map((n) => this.probeNode(n)));
    const plan = planRoutes(states, this.policy);
    const previous = this.current;
    this.current = plan;
    this.onPlan(plan, previous);
    return plan;
  }

  private probeNode(n: ProbeTarget): Promise<NodeState> {
    let p = this.inflight.get(n.id);
    if (!p) {
      p = this.prober.probe(n).then((s) => {
        if (s.reachable) this.unreachable.delete(n.id);
        else this.unreachable.add(n.id);
        return s;
      });
      const mine = p;
      const clear = (): void => {
        if (this.inflight.get(n.id) === mine) this.inflight.delete(n.id);
      };
      mine.then(clear, clear);
      this.inflight.set(n.id, p);
    }
    if (!this.unreachable.has(n.id)) return p;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<NodeState>((resolve) => {
      timer = setTimeout(() => resolve({ id: n.id, reachable: false, error: `unreachable in the last round, no answer within ${UNREACHABLE_GRACE_MS} ms` }), UNREACHABLE_GRACE_MS);
      timer.unref();
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }
}
