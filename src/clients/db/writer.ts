import { ErrorCode, HastackError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { RoutePlan } from './routing.js';

// How often a held write asks for a probe round. 50 ms: a round is two variable reads per node on
// kept-open connections, concurrent requests share one round, and it runs only while writes are held.
const HOLD_PROBE_MS = 50;

/**
 * Which node takes writes, as the router believes it, and the writes held until a probe round
 * finds one. Follows every probe round (`adopt`); a node that lost a connection or refused a
 * write is forgotten (`forget`) so the next write probes all nodes again instead of failing on
 * the old one first.
 */
export class WriterTracker {
  private node: string | undefined;
  /** Held writes waiting for a probe round that finds a writer (see `hold`). */
  private readonly waiters = new Set<() => void>();

  constructor(
    /** Probes every node now (the watcher's refresh, shared by concurrent callers). */
    private readonly refresh: () => Promise<RoutePlan>,
    private readonly log: Logger,
  ) {}

  /** The node currently believed to be the writer (undefined until found, or after a failure). */
  get current(): string | undefined {
    return this.node;
  }

  /** The writer, found by probing when not known; throws (retried by the caller) when there is none. */
  async get(): Promise<string> {
    if (this.node !== undefined) return this.node;
    const plan = await this.refresh();
    if (plan.writer !== undefined) return plan.writer;
    const refusal = plan.writeRefusal;
    if (refusal?.kind === 'split-brain') throw new HastackError(ErrorCode.DB_SPLIT_BRAIN, `${refusal.reason}; retrying within the budget`);
    throw new HastackError(ErrorCode.DB_UNAVAILABLE, `${refusal?.reason ?? 'no writable MariaDB'}; retrying until one is promoted`);
  }

  /** Takes in a probe round: the writer follows it, a split brain stops writes, held writes go on. */
  adopt(plan: RoutePlan): void {
    if (plan.writeRefusal?.kind === 'split-brain' && this.node !== undefined) {
      this.log.error({ reason: plan.writeRefusal.reason }, 'MariaDB split brain seen: refusing writes');
      this.node = undefined;
    } else if (plan.writer !== undefined && plan.writer !== this.node) {
      this.log.info({ db: plan.writer, routes: plan.summary }, 'MariaDB writer found');
      this.node = plan.writer;
    }
    // Held writes go on at once when there is a writer (a round that confirms the same one too:
    // a write refused by a demoted node waits for the round that shows it is still, or again, the writer).
    if (plan.writer !== undefined && plan.writeRefusal === undefined) for (const wake of [...this.waiters]) wake();
    else if (plan.writer === undefined && this.node !== undefined) {
      // Demoted or gone: the next write probes again instead of failing on the old node first.
      this.forget(this.node, plan.writeRefusal?.reason ?? 'no writer in the last probe round');
    }
  }

  /** `node` failed as the writer (lost connection, read-only): forget it if it is the one believed. */
  forget(node: string, why: string): void {
    if (this.node !== node) return;
    this.node = undefined;
    this.log.warn({ db: node, why }, 'dropping cached MariaDB primary; will probe all nodes again');
  }

  /**
   * Waits up to `ms` (the policy's backoff), or until a probe round finds a writer. While writes
   * are held it asks for a round every HOLD_PROBE_MS rather than waiting for the next 300 ms one:
   * a promotion completes in tens of ms, and the hold should end within one round of it.
   */
  hold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      const poll = setInterval(() => {
        this.refresh().catch(() => undefined);
      }, HOLD_PROBE_MS);
      this.waiters.add(done);
    });
  }
}
