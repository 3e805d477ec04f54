import type { HostReport, HostStep } from '../deploy/index.js';
import type { NodeFacts, RecoveryPlan } from '../engines/index.js';
import type { AutoMode, BackupPlan, BackupResult, Journal, PlanStep, RoleChangePlan, RotationPlan } from '../failover/index.js';

/*
 * `-o json` of the commands that change the cluster: with `--dry-run`, ONE document of the plan
 * (its steps in order, the facts it rests on, the decision); without, one document of what was
 * done, the progress lines going to stderr meanwhile. Every document has the same head, built
 * here from the plan object the text output is printed from (never from the text). Type imports
 * only: `setup` and `pause` load nothing more for it; the steps of a backup or a deploy are
 * passed in by the command, which has their module loaded already.
 */

/**
 * - planned: a dry run; this is what a real run would do
 * - done: a real run did it
 * - nothing-to-do: already as asked (a dry run or not)
 * - refused: the plan refuses (a refusal that is an error comes as `{error}` instead)
 * - skipped: a scheduled run that is another node's to take
 */
export type Decision = 'planned' | 'done' | 'nothing-to-do' | 'refused' | 'skipped';

export interface PlanDocument {
  readonly command: string;
  readonly dryRun: boolean;
  readonly decision: Decision;
  /** What it does (or did), in order. */
  readonly steps: readonly unknown[];
  /** What the plan rests on: positions, GTIDs, readings, what is installed. */
  readonly facts: unknown;
  readonly [more: string]: unknown;
}

export function writeJson(doc: unknown): void {
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

/**
 * Where a command's progress lines go: stdout as text; under `-o json` nowhere for a dry run (the
 * document holds the plan) and stderr for a real run (stdout stays one document).
 */
export function progressLines(json: boolean, dryRun: boolean): (line: string) => void {
  if (!json) return (l) => void process.stdout.write(`${l}\n`);
  return dryRun ? () => undefined : (l) => void process.stderr.write(`${l}\n`);
}

/** `failover` / `switchover`: the plan (dry) or the journal of what was done. */
export function roleChangeDocument(
  r: { readonly dryRun: boolean; readonly plan: RoleChangePlan; readonly resumed?: boolean; readonly journal: Journal },
  more: Record<string, unknown> = {},
): PlanDocument {
  const { kind, steps, facts, readings, ...plan } = r.plan;
  return {
    command: kind,
    dryRun: r.dryRun,
    decision: r.dryRun ? 'planned' : 'done',
    steps,
    facts: { lines: facts, readings: readings ?? null },
    plan,
    resumed: r.resumed ?? false,
    ...(r.dryRun ? {} : { journal: { id: r.journal.id, startedAt: r.journal.startedAt, finishedAt: r.journal.finishedAt ?? null, runs: r.journal.runs, steps: r.journal.steps } }),
    ...more,
  };
}

/** `pause` / `resume`: the mode now, the change, the mode after. */
export function pauseDocument(
  want: 'pause' | 'resume',
  current: AutoMode,
  plan: { readonly next: AutoMode | undefined; readonly change: string },
  dryRun: boolean,
  after?: AutoMode,
): PlanDocument {
  return {
    command: want,
    dryRun,
    decision: plan.next === undefined ? 'nothing-to-do' : dryRun ? 'planned' : 'done',
    steps: plan.next === undefined ? [] : [{ step: 'mode', does: plan.change }],
    facts: { current },
    change: plan.change,
    next: after ?? plan.next ?? null,
  };
}

/** `setup`: what is missing for the scope, and the one apt-get command (run, or that would be). */
export function setupDocument(
  r: { readonly rows: readonly (readonly string[])[]; readonly missingPackages: readonly string[]; readonly noCandidate: readonly string[]; readonly scope: string },
  command: string,
  dryRun: boolean,
): PlanDocument {
  const [head, ...rows] = r.rows;
  const keys = (head ?? []).map((k) => k.toLowerCase());
  return {
    command: 'setup',
    dryRun,
    decision: r.missingPackages.length === 0 ? 'nothing-to-do' : dryRun ? 'planned' : 'done',
    steps: r.missingPackages.length === 0 ? [] : [{ step: 'apt-get', does: command }],
    facts: { scope: r.scope, checks: rows.map((row) => Object.fromEntries(keys.map((k, i) => [k, row[i] ?? '']))) },
    missingPackages: r.missingPackages,
    noCandidate: r.noCandidate,
  };
}

/** `backup --dry-run`: source, target, the steps and what they rest on. */
export function backupPlanDocument(p: BackupPlan, steps: readonly PlanStep[], wouldRemove: readonly string[]): PlanDocument {
  return {
    command: 'backup',
    dryRun: true,
    decision: 'planned',
    id: p.id,
    steps,
    facts: p.facts,
    source: { service: p.source.svc.id, node: p.source.svc.node, role: p.source.role, replicating: p.source.replicating },
    primary: p.primary ?? null,
    redis: p.redis ? { service: p.redis.svc.id, role: p.redis.role } : null,
    target: p.target,
    targets: p.targets,
    remote: p.remote,
    encrypted: p.encrypted,
    keep: p.keep,
    wouldRemove,
    dirs: { staging: p.stagingDir, incoming: p.incomingDir, final: p.finalDir },
  };
}

/** `backup` (not dry): the backup taken, where, how big, its GTID, what retention removed; `log` its steps as they ran. */
export function backupDoneDocument(r: BackupResult, log: readonly string[]): PlanDocument {
  const m = r.manifest;
  return {
    command: 'backup',
    dryRun: false,
    decision: 'done',
    id: m.id,
    steps: log.map((does) => ({ does })),
    facts: { gtid: m.gtid, source: m.source, target: m.target, startedAt: m.startedAt },
    dir: r.dir,
    bytes: m.totalBytes,
    totalMs: r.totalMs,
    removed: r.removed,
    encryption: m.encryption ?? null,
  };
}

/** One job `jobs retry` looked at: its state, and what it did (or would do) with it. */
export interface RetryEntry {
  readonly id: string;
  readonly name: string | null;
  /** Its state when looked at: failed, missing, waiting, completed, ... */
  readonly state: string;
  readonly action: 'retry' | 'skip';
}

/** The line `jobs retry` prints for one job. Pure. */
export function retryLine(e: RetryEntry, dryRun: boolean): string {
  if (e.action === 'skip') return `  ${e.id}: ${e.state}, not failed; skipped`;
  return `  ${e.id} (${e.name ?? '?'}): ${dryRun ? 'would be retried' : 'retried'}`;
}

export function jobsRetryDocument(queue: string, entries: readonly RetryEntry[], dryRun: boolean): PlanDocument {
  const retry = entries.filter((e) => e.action === 'retry');
  return {
    command: 'jobs retry',
    dryRun,
    decision: retry.length === 0 ? 'nothing-to-do' : dryRun ? 'planned' : 'done',
    steps: retry.map((e) => ({ step: 'retry', job: e.id, name: e.name })),
    facts: { queue, jobs: entries.map((e) => ({ id: e.id, name: e.name, state: e.state })) },
    skipped: entries.filter((e) => e.action === 'skip').map((e) => e.id),
    ...(dryRun ? {} : { retried: retry.length }),
  };
}

/** `secrets rotate`: the secrets, the steps left (dry) or done, whether it resumed a journal. */
export function rotateDocument(p: RotationPlan, dryRun: boolean, hosts: number | null): PlanDocument {
  return {
    command: 'secrets rotate',
    dryRun,
    decision: dryRun ? 'planned' : 'done',
    steps: p.steps.map((does) => ({ does })),
    facts: { resumed: p.resumed, hosts },
    names: p.names,
  };
}

/** What `db recover` found and chose (the local and the hosts outcomes, in one shape). */
export interface RecoverView {
  readonly result: string;
  readonly summary: string;
  readonly plan?: RecoveryPlan;
  readonly facts?: readonly NodeFacts[];
  readonly primary?: readonly string[];
  readonly missing?: readonly string[];
}

/** The order a recovery starts the nodes in: the bootstrap node, then each joiner; or the missing ones joining a running component. */
export function recoverySteps(v: RecoverView): PlanStep[] {
  if (v.plan?.ok === true) {
    const boot = { step: 'bootstrap', does: `bootstrap ${v.plan.bootstrap} from ${v.plan.position.uuid}:${v.plan.position.seqno}`, node: v.plan.bootstrap };
    return [boot, ...v.plan.joinOrder.map((node) => ({ step: 'join', does: `start ${node}; wait until it is synced`, node }))];
  }
  return (v.missing ?? []).map((node) => ({ step: 'join', does: `start ${node}; wait until it is synced`, node }));
}

export function recoverDocument(v: RecoverView, dryRun: boolean, log: readonly string[]): PlanDocument {
  const refused = v.plan !== undefined && !v.plan.ok;
  const decision: Decision = refused
    ? 'refused'
    : v.result === 'nothing-to-do' || (v.result === 'running' && (v.missing ?? []).length === 0)
      ? 'nothing-to-do'
      : dryRun
        ? 'planned'
        : 'done';
  return {
    command: 'db recover',
    dryRun,
    decision,
    steps: refused ? [] : recoverySteps(v),
    facts: { positions: v.facts ?? null, primaryComponent: v.primary ?? null },
    result: v.result,
    summary: v.summary,
    ...(v.plan ? { plan: v.plan } : {}),
    ...(refused && v.plan && !v.plan.ok ? { reason: v.plan.reason } : {}),
    log,
  };
}

/** `deploy --dry-run` / `--diff`, or the run's result: per host what it found and its steps. */
export function deployDocument(
  cluster: string,
  hosts: readonly HostReport[],
  stepsOf: (h: HostReport) => readonly HostStep[],
  o: { readonly dryRun: boolean; readonly diff: boolean },
  more: Record<string, unknown> = {},
): PlanDocument {
  return {
    command: 'deploy',
    dryRun: o.dryRun,
    decision: o.dryRun ? 'planned' : 'done',
    diff: o.diff,
    cluster,
    steps: hosts.flatMap((h) => stepsOf(h).map((s) => ({ host: h.node, ...s }))),
    facts: hosts.map((h) => ({ node: h.node, target: h.target, facts: h.facts ?? null, verdicts: h.verdicts, services: h.services })),
    ...more,
  };
}
