import fs from 'node:fs';
import path from 'node:path';
import { describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import type { FailoverEnv } from './context.js';
import { autoSnapshot, decide, type AutoDecision, type AutoState } from './decide.js';
import { gatherDbFacts } from './facts.js';
import { readJournal } from './journal.js';
import { runFailover, runHook, type NodeFencer } from './runbook.js';

/** Once a second: the primary's death is then acted on within detectionMs + ~1 s. */
const CYCLE_MS = 1_000;

/**
 * The automatic failover mode (`failover.auto`), run inside the supervisor: one `runCycle()` a
 * second reads an immutable snapshot of the MariaDB nodes, asks the pure `decide`, performs at
 * most one action (the whole runbook), and returns the decision as one line. Every line goes to
 * `<stateDir>/failover-auto.log`; a change of action also to the event log.
 */
export class FailoverController {
  private state: AutoState = {};
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private closed = false;
  private lastAction: string | undefined;
  private readonly logFile: string;

  constructor(
    private readonly env: FailoverEnv,
    private readonly fencer: NodeFencer,
    private readonly now: () => number = Date.now,
  ) {
    this.logFile = path.join(env.topo.stateDir, 'failover-auto.log');
  }

  async runCycle(): Promise<string> {
    const cfg = this.env.topo.config.failover;
    const finished = readJournal(this.env.topo.stateDir)?.finishedAt;
    const st: AutoState = { ...this.state, ...(finished ? { lastFailoverAt: Date.parse(finished) } : {}) };
    const snap = autoSnapshot(await gatherDbFacts(this.env), this.now());
    const d: AutoDecision = decide(snap, st, cfg);
    this.state = d.state;
    if (d.action !== 'failover') return d.message;
    if (cfg.preFailoverHook) {
      const hook = await runHook(cfg.preFailoverHook, { HASTACK_FAILOVER_FROM: snap.primary ?? '', HASTACK_FAILOVER_REASON: d.message });
      if (hook.code !== 0) return `vetoed by failover.preFailoverHook (exit ${hook.code}${hook.output ? `: ${hook.output.split('\n').pop() ?? ''}` : ''}): ${d.message}`;
    }
    try {
      const r = await runFailover(this.env, this.fencer, {});
      this.state = { lastFailoverAt: this.now() };
      return `${d.message}; failover ${r.journal.id} done: ${r.journal.plan.to} is the primary`;
    } catch (e) {
      return `${d.message}; the failover FAILED: ${describeError(e)} (next cycle resumes it)`;
    }
  }

  private log(message: string): void {
    fs.appendFileSync(this.logFile, `${new Date().toISOString()} ${message}\n`);
    const action = message.split(':')[0];
    if (action !== this.lastAction) {
      this.lastAction = action;
      appendEvent(this.env.topo.stateDir, { type: 'failover.decision', message: `auto failover: ${message}` });
    }
  }

  start(): void {
    if (this.closed || this.timer) return;
    const tick = (): void => {
      this.running = this.runCycle()
        .then((m) => this.log(m), (e: unknown) => this.log(`cycle error: ${describeError(e)}`))
        .finally(() => {
          this.running = undefined;
          if (!this.closed) {
            this.timer = setTimeout(tick, CYCLE_MS);
            this.timer.unref();
          }
        });
    };
    this.timer = setTimeout(tick, CYCLE_MS);
    this.timer.unref();
  }

  /** Stops the loop; waits for a cycle in progress (a running failover finishes its step). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
