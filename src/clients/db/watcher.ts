import type { Logger } from '../../shared/log.js';
import type { NodeProber, ProbeTarget } from './prober.js';
import { planRoutes, type RoutePlan, type RoutingPolicy } from './routing.js';

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
    const states = await Promise.all(this.nodes.map((n) => this.prober.probe(n)));
    const plan = planRoutes(states, this.policy);
    const previous = this.current;
    this.current = plan;
    this.onPlan(plan, previous);
    return plan;
  }
}
