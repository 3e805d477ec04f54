import { sleep } from '../shared/retry.js';
import type { AppRuntime } from './runtime.js';

/** Between the first checks while a fresh process's own links come up (`start`). */
const LINK_RETRY_MS = 250;

export interface DependencyCheck {
  readonly ok: boolean;
  readonly detail: string;
}

export interface ReadinessReport {
  /** `degraded`: serving, but a shared dependency is impaired (the answer stays 200). */
  readonly status: 'ready' | 'degraded';
  readonly checks: {
    readonly db: DependencyCheck;
    readonly redis: DependencyCheck;
    readonly cache: DependencyCheck;
    readonly migrations: DependencyCheck;
  };
  /** When the checks last ran (ISO time). */
  readonly checkedAt: string;
}

/**
 * Background checks of the shared dependencies, run every `intervalMs` so that `/readyz` answers
 * from memory in microseconds (the load balancer's probe has a 500 ms budget, and a probe of a
 * frozen database could take longer).
 *
 * These never decide readiness: every app server shares the same database, Redis and cache, so
 * turning an outage of theirs into 503 would make every load balancer drop every app server at
 * once, turning a partial outage (reads from cache still work, health pages still answer) into
 * a total one. They are reported as `degraded` for operators and the dashboard.
 */
export class ReadinessProbe {
  private report: ReadinessReport;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private migrations: DependencyCheck = { ok: false, detail: 'not run yet' };

  constructor(
    private readonly runtime: AppRuntime,
    // 2 s: the load balancer probes every second, but these results do not gate traffic; every
    // 2 s keeps the dependency chatter of N app servers small.
    private readonly intervalMs = 2_000,
  ) {
    const pending = { ok: false, detail: 'not checked yet' };
    this.report = { status: 'degraded', checks: { db: pending, redis: pending, cache: pending, migrations: this.migrations }, checkedAt: new Date().toISOString() };
  }

  current(): ReadinessReport {
    return this.report;
  }

  setMigrations(check: DependencyCheck): void {
    this.migrations = check;
    this.report = compose(this.report.checks.db, this.report.checks.redis, this.report.checks.cache, check);
  }

  /**
   * The first checks, then one every `intervalMs`. The first is repeated (every 250 ms, for
   * `untilLinkedMs` at most) until this process's own database and Redis links
   * answer: the caller starts serving after it, so a fresh app server (a restart, one of a rolling
   * restart) takes no request its sessions or queue could not serve yet, while the others serve.
   * An outage of either is no reason to wait longer: past the bound it serves, as it would anyway.
   */
  async start(untilLinkedMs: number): Promise<void> {
    const deadline = Date.now() + untilLinkedMs;
    for (;;) {
      await this.check();
      const { db, redis } = this.report.checks;
      if ((db.ok && redis.ok) || this.stopped || Date.now() + LINK_RETRY_MS > deadline) break;
      await sleep(LINK_RETRY_MS);
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    await this.check();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    if (this.stopped || this.running) return;
    this.running = true;
    try {
      // 1 s for the database (connect + one query), 500 ms for Redis PING: bounded well inside the interval.
      const [db, redisOk] = await Promise.all([this.runtime.db.ping(1_000), this.runtime.redis.ping(500)]);
      const nodes = this.runtime.cache.health();
      const down = nodes.filter((n) => !n.up);
      const cache: DependencyCheck =
        nodes.length === 0
          ? { ok: false, detail: 'no memcached nodes configured' }
          : { ok: down.length === 0, detail: down.length === 0 ? `${nodes.length} node(s) up` : `down: ${down.map((n) => `${n.node} (${n.reason ?? '?'})`).join(', ')}` };
      const redis: DependencyCheck = { ok: redisOk, detail: redisOk ? 'master answers' : `no master answered PING (client ${this.runtime.redis.status})` };
      this.report = compose({ ok: db.ok, detail: db.detail }, redis, cache, this.migrations);
    } finally {
      this.running = false;
    }
  }
}

function compose(db: DependencyCheck, redis: DependencyCheck, cache: DependencyCheck, migrations: DependencyCheck): ReadinessReport {
  const ok = db.ok && redis.ok && cache.ok && migrations.ok;
  return { status: ok ? 'ready' : 'degraded', checks: { db, redis, cache, migrations }, checkedAt: new Date().toISOString() };
}
