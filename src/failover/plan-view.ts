import type { FailoverEnv } from './context.js';
import type { ClusterFacts } from './decide.js';
import { describeFence } from './fence.js';
import type { JournalPlan } from './journal.js';

/*
 * The plan of a failover or a switchover as one object, printed by `--dry-run` as text (the lines
 * below) and under `-o json` as it is: the same steps, facts and reasons either way.
 */

/** One step of a plan, in the order it runs. */
export interface PlanStep {
  /** A short stable name (`fence`, `promote`, ...). */
  readonly step: string;
  /** What it does on this cluster, as the text plan says it. */
  readonly does: string;
}

/** A failover's or a switchover's plan: the journal's plan plus its steps and, when just looked at, the readings. */
export interface RoleChangePlan extends JournalPlan {
  readonly kind: 'failover' | 'switchover';
  readonly steps: readonly PlanStep[];
  /** The readings the facts' lines were made from (absent when resuming a journal: only its lines were kept). */
  readonly readings?: ClusterFacts;
}

/** The crash plan's steps 1–7 (preflight and report are not listed: they only check). */
export function failoverSteps(env: FailoverEnv, plan: JournalPlan): PlanStep[] {
  const cfg = env.topo.config;
  return [
    { step: 'fence', does: describeFence(env, plan) },
    { step: 'promote', does: `${plan.to}: apply every received transaction, read_only=0 (SENTINEL FAILOVER asked meanwhile if the Redis master died with ${plan.from})` },
    { step: 'repoint', does: `${plan.to}: RESET SLAVE ALL; ${plan.repoint.length ? plan.repoint.join(', ') : '(no other replica)'} → ${plan.to}` },
    { step: 'redis', does: `the SENTINEL FAILOVER request's outcome (to ${plan.to}'s replica)` },
    { step: 'services', does: `one Redis master all reachable sentinels name; app, worker, lb, dns outside ${plan.from} healthy` },
    { step: 'dns', does: `hastack DNS without ${plan.from}'s load balancer${cfg.failover.dnsHook ? '; run failover.dnsHook' : ''}; TTL ${cfg.dns.ttlS} s` },
    { step: 'verify', does: 'an order written, read back and confirmed by a worker, through DNS and a load balancer' },
  ];
}

/** The failover plan as `--dry-run` prints it (and a fresh run, before it asks). Pure. */
export function describeFailoverPlan(p: RoleChangePlan): string[] {
  const lines = [`plan: fail over the database from ${p.from} to ${p.to}`, 'facts:', ...p.facts.map((l) => `  ${l}`), 'because:', ...p.because.map((l) => `  ${l}`)];
  if (p.acceptedLoss) lines.push('would lose (accepted with --accept-data-loss):', ...p.acceptedLoss.map((l) => `  ${l}`));
  lines.push('steps:', ...p.steps.map((s, i) => `  ${i + 1} ${s.step.padEnd(9)} ${s.does}`));
  return lines;
}

/** A switchover's steps: writes stop, the target catches up, it is promoted, the others follow it. */
export function switchoverSteps(from: string, to: string, repoint: readonly string[]): PlanStep[] {
  return [
    { step: 'stop-writes', does: `stop writes on ${from} (read_only)` },
    { step: 'catch-up', does: `${to} applies every GTID` },
    { step: 'promote', does: `promote ${to}` },
    { step: 'repoint', does: `${repoint.join(', ')} replicate from ${to} (semi-sync)` },
  ];
}

/** The switchover plan as `--dry-run` prints it. Pure. */
export function describeSwitchoverPlan(p: RoleChangePlan): string[] {
  return [`plan: switch the primary from ${p.from} to ${p.to}`, ...p.facts.map((l) => `  ${l}`), `steps: ${p.steps.map((s) => s.does).join(' → ')}`];
}
