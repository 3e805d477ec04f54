import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { servicesOf } from '../config/index.js';
import { driverFor } from '../drivers/index.js';
import { isOwnKind } from '../registry/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { waitFor } from '../shared/retry.js';
import { ctxOf, serviceOn, type FailoverEnv } from './context.js';
import { releaseBackupHold } from './backup.js';
import { attachReplica, finishPromotion, promote, REACH_TIMEOUT_MS, withDb, readDb } from './db-ops.js';
import { fenceStep, type NodeFencer } from './fence.js';
import { describeFailoverPlan, failoverSteps, type RoleChangePlan } from './plan-view.js';
import { planFailover, promotionMustCover, type AckedMark, type ClusterFacts, type DbFacts } from './decide.js';
import { describeFacts, gatherFacts } from './facts.js';
import { takeLock, unfinishedJournal, writeJournal, type Journal, type StepName } from './journal.js';
import { executeSteps } from './steps.js';
import { readAsyncWindow, writeAsyncWindow } from './semisync-record.js';
import { requestRedisFailover, waitRedisSettled } from './redis-ops.js';
import { dnsAnswer, verifyEndToEnd } from './verify.js';

export type { NodeFencer } from './fence.js';

export interface FailoverOptions {
  readonly to?: string;
  /** Print the plan and the facts, change nothing. */
  readonly dryRun?: boolean;
  /** One line per step as it starts and ends (the CLI prints them). */
  readonly onProgress?: (line: string) => void;
  /** Asked before anything changes (the CLI's confirmation); false aborts. */
  readonly confirm?: (plan: Journal['plan']) => Promise<boolean>;
  /** Promote even though the plan lists acknowledged commits the new primary lacks. */
  readonly acceptDataLoss?: boolean;
  /**
   * The operator confirms this node's machine is off (`--machine-off NODE`): the fence goes ahead
   * without failover.fence when that machine does not answer (fence.ts). Never set by the automatic mode.
   */
  readonly machineOff?: string;
  /** The automatic mode's floor for the promoted replica (decide.ts trackAcked). */
  readonly acked?: AckedMark;
  /** The automatic mode's database snapshot of the cycle that decided (ms old): not probed again. */
  readonly dbFacts?: DbFacts[];
  /** The automatic mode: asked before each step, throws (NOT_LEADER) once its controller no longer leads. */
  readonly mayGoOn?: () => void | Promise<void>;
}

export interface FailoverResult {
  readonly journal: Journal;
  readonly resumed: boolean;
  readonly dryRun: boolean;
  readonly lines: readonly string[];
  /** The plan carried out (or, dry, that would be): its steps, facts and reasons. */
  readonly plan: RoleChangePlan;
}

// The first write waits only for the fence and the promotion. The Redis request (SENTINEL
// FAILOVER, only if the Redis master died with the old primary) starts in the background right
// after the fence, so both move at once, but its look at a cut-off Redis node (a connect timeout)
// no longer holds up the promotion; the redis step collects it after the repoint. The repoint
// finishes the promotion (STOP SLAVE, RESET SLAVE ALL: seconds with an IO thread stuck on a dead
// primary) after writes are on; services, dns and verify follow, off the write path (the app
// finds the primary by its own discovery).
export const FAILOVER_STEPS: readonly StepName[] = ['preflight', 'fence', 'promote', 'repoint', 'redis', 'services', 'dns', 'verify', 'report'];

// SQL threads on loopback apply a backlog of thousands of small transactions in a second or two;
// 30 s bounds a large one (then the operator decides, rather than promoting a partial replica).
const APPLY_TIMEOUT_MS = 30_000;
// Our services on the standby are normally running already (simple preset); if the supervisor is
// restarting one, its start budget is up to a minute, but they answer within seconds.
const SERVICES_TIMEOUT_MS = 30_000;
// The DNS servers probe the load balancers every second with fall 2: the dead one leaves the
// answers within ~3 s.
const DNS_TIMEOUT_MS = 15_000;
// A DNS hook talks to a provider's API: a minute is generous, and the runbook must not hang on it.
const HOOK_TIMEOUT_MS = 60_000;

/** Runs a configured hook (`sh -c`), bounded; resolves with its exit code and output tail. */
export function runHook(command: string, env: Record<string, string>, timeoutMs = HOOK_TIMEOUT_MS): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, output: describeError(e) });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), output: output.trim() });
    });
  });
}

async function waitServicesHealthy(env: FailoverEnv, fenced: string): Promise<string> {
  // hastack's own tiers (the registry's `ours` kinds): the engines have their own failover checks
  const want = env.topo.services.filter((s) => s.node !== fenced && isOwnKind(s.kind));
  let bad: string[] = [];
  const ok = await waitFor(
    async () => {
      const probe = env.probe ?? ((s: (typeof want)[number]) => driverFor(s.kind).probe(ctxOf(env, s), 1_000));
      const probes = await Promise.all(want.map(async (s) => ({ s, p: await probe(s) })));
      bad = probes.filter((x) => !x.p.healthy).map((x) => `${x.s.id}: ${x.p.detail ?? 'unhealthy'}`);
      return bad.length === 0 ? true : undefined;
    },
    { timeoutMs: SERVICES_TIMEOUT_MS, intervalMs: 300 },
  );
  if (!ok)
    throw new HastackError(ErrorCode.HEALTH_TIMEOUT, `services not healthy after ${SERVICES_TIMEOUT_MS / 1000} s: ${bad.join('; ')}; see "hastack status" and "hastack logs NODE"`);
  return `${want.map((s) => s.id).join(', ')} healthy`;
}

async function dnsStep(env: FailoverEnv, j: Journal): Promise<string> {
  const { from, to } = j.plan;
  const fencedLbs = new Set(
    servicesOf(env.topo, 'lb')
      .filter((s) => s.node === from)
      .map((s) => s.address),
  );
  let last: { addresses: string[]; ttlS: number } | undefined;
  const ok = await waitFor(
    async () => {
      last = await dnsAnswer(env, from);
      return last.addresses.length > 0 && !last.addresses.some((a) => fencedLbs.has(a)) ? last : undefined;
    },
    { timeoutMs: DNS_TIMEOUT_MS, intervalMs: 250 },
  );
  const ttl = env.topo.config.dns.ttlS;
  const parts: string[] = [];
  if (!ok) {
    throw new HastackError(
      ErrorCode.UPSTREAM_UNAVAILABLE,
      `hastack's DNS still answers ${last?.addresses.join(', ') || 'nothing'} after ${DNS_TIMEOUT_MS / 1000} s; see "hastack status" (dns and lb rows)`,
    );
  }
  parts.push(`hastack DNS answers ${env.topo.config.serviceName} → ${ok.addresses.join(', ')}`);
  const hook = env.topo.config.failover.dnsHook;
  if (hook) {
    const r = await runHook(hook, {
      HASTACK_FAILOVER_FROM: from,
      HASTACK_FAILOVER_TO: to,
      HASTACK_SERVICE_NAME: env.topo.config.serviceName,
      HASTACK_LB_ADDRESSES: ok.addresses.join(' '),
      HASTACK_DNS_TTL: String(ttl),
    });
    if (r.code !== 0)
      throw new HastackError(ErrorCode.HOOK_FAILED, `the DNS hook (failover.dnsHook) exited ${r.code}: ${r.output}; fix it and run the failover again (it resumes here)`);
    parts.push(`DNS hook ran (exit 0${r.output ? `: ${r.output.split('\n').pop() ?? ''}` : ''})`);
  }
  parts.push(`clients holding the old answer may use it for up to ${ttl} s (TTL ${ttl} s)${hook ? ", plus the external provider's own TTL" : ''}`);
  return parts.join('; ');
}

/**
 * The crash plan: preflight → fence → promote → repoint → redis → services → dns → verify →
 * report. Every step is idempotent, journaled (failover-journal.json) and in the event log; a
 * run after an interruption resumes the unfinished journal with its plan.
 */
export async function runFailover(env: FailoverEnv, fencer: NodeFencer, o: FailoverOptions = {}): Promise<FailoverResult> {
  const say = o.onProgress ?? (() => undefined);
  const stateDir = env.topo.stateDir;
  const release = o.dryRun ? () => undefined : takeLock(stateDir, fencer.isAlive);
  const lines: string[] = [];
  const out = (l: string): void => {
    lines.push(l);
    say(l);
  };
  try {
    let j = unfinishedJournal(stateDir);
    const resumed = j !== undefined && j.kind === 'failover';
    let readings: ClusterFacts | undefined;
    if (j && j.kind !== 'failover') {
      throw new HastackError(
        ErrorCode.CLUSTER_RUNNING,
        `an unfinished ${j.kind} (${j.id}) is in ${stateDir}/failover-journal.json; run "hastack ${j.kind}" again to finish it first`,
      );
    }
    if (j) {
      out(`resuming failover ${j.id} (${j.plan.from} → ${j.plan.to}); done: ${FAILOVER_STEPS.filter((s) => j?.steps[s]).join(', ') || 'nothing yet'}`);
    } else {
      const facts: ClusterFacts = await gatherFacts(env, o.dbFacts);
      readings = facts;
      const asyncWindow = readAsyncWindow(stateDir);
      const plan = planFailover(facts, {
        ...(o.to !== undefined ? { to: o.to } : {}),
        ...(asyncWindow ? { asyncWindow } : {}),
        ...(o.acceptDataLoss ? { acceptDataLoss: true } : {}),
        ...(o.acked ? { acked: o.acked } : {}),
      });
      const factLines = describeFacts(facts);
      if (!plan.ok) {
        for (const l of factLines) out(`  ${l}`);
        if (plan.dataLoss) {
          out('would lose:');
          for (const l of plan.dataLoss) out(`  ${l}`);
        }
        throw new HastackError(plan.refusal === 'data-loss' ? ErrorCode.DATA_LOSS_REFUSED : ErrorCode.FAILOVER_REFUSED, `failover refused: ${plan.reason}`, {
          details: { refusal: plan.refusal, ...(plan.dataLoss ? { dataLoss: plan.dataLoss } : {}), facts: factLines, readings: facts },
        });
      }
      j = {
        id: `fo-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`,
        kind: 'failover',
        startedAt: new Date().toISOString(),
        plan: {
          from: plan.from,
          to: plan.to,
          fromReachable: plan.fromReachable,
          repoint: plan.repoint,
          because: plan.because,
          facts: factLines,
          ...(plan.acceptedLoss ? { acceptedLoss: plan.acceptedLoss } : {}),
        },
        steps: {},
        runs: 0,
      };
    }
    const plan = j.plan;
    const view: RoleChangePlan = { kind: 'failover', ...plan, steps: failoverSteps(env, plan), ...(readings ? { readings } : {}) };
    if (o.dryRun || !resumed) for (const l of describeFailoverPlan(view)) out(l);
    if (o.machineOff !== undefined && o.machineOff !== plan.from) {
      throw new HastackError(ErrorCode.BAD_REQUEST, `--machine-off ${o.machineOff}: the plan fences ${plan.from}, not ${o.machineOff}; nothing changed`);
    }
    if (o.dryRun) return { journal: j, resumed, dryRun: true, lines, plan: view };
    if (!resumed && o.confirm && !(await o.confirm(plan))) throw new HastackError(ErrorCode.BAD_REQUEST, 'failover not confirmed; nothing changed');

    j = { ...j, runs: j.runs + 1 };
    if (!j.steps.preflight) j = { ...j, steps: { ...j.steps, preflight: { doneAt: new Date().toISOString(), message: `plan ${plan.from} → ${plan.to}` } } };
    writeJournal(stateDir, j);
    appendEvent(stateDir, {
      type: 'failover.step',
      message: `failover ${j.id}: ${resumed ? 'resumed' : 'preflight'}: ${plan.from} → ${plan.to}`,
      data: { id: j.id, step: 'preflight', because: plan.because },
    });
    const toDb = serviceOn(env, plan.to, 'mariadb');
    // Started once the fence is done (or was, in an earlier run), awaited by the redis step.
    let redisAsk: Promise<string> | undefined;
    const askRedis = (): Promise<string> => {
      redisAsk ??= requestRedisFailover(env, plan.from, plan.to);
      // Its failure is the redis step's; never an unhandled rejection meanwhile.
      redisAsk.catch(() => undefined);
      return redisAsk;
    };
    if (j.steps.fence) void askRedis();
    j = await executeSteps(
      stateDir,
      j,
      FAILOVER_STEPS,
      {
        fence: async (cur) => {
          const { message, fenced } = await fenceStep(env, fencer, plan, cur.id, o.machineOff !== undefined ? { machineOff: o.machineOff } : {});
          // Unacknowledged commits the cut-off primary held are dropped with it; the clients retry
          // them on the new primary with the same Idempotency-Key (see promotionMustCover).
          // Accepted by the operator (--accept-data-loss): the old primary's binlog is not demanded.
          const mustCover = plan.acceptedLoss ? undefined : promotionMustCover(fenced);
          if (!cur.steps.redis) void askRedis();
          return { message, journal: mustCover !== undefined ? { ...cur, fencedBinlog: mustCover } : cur };
        },
        promote: async (cur) => {
          // A backup in progress holds a replica's SQL thread still (backup.ts): the candidate could
          // then never apply what it received. Let it go first; that backup fails its own checks.
          const released = await releaseBackupHold(env.topo, env.secrets);
          // The fence killed the old primary or powered its machine off (not so on the operator's
          // word alone): its replica receives nothing more, so its IO thread need not stop first.
          const sourceDead = o.machineOff === undefined;
          const r = await promote(env, toDb, { applyTimeoutMs: APPLY_TIMEOUT_MS, sourceDead, ...(cur.fencedBinlog ? { mustCover: cur.fencedBinlog } : {}) });
          const note = released ? ` (restarted the SQL thread a backup held on ${released})` : '';
          return `${plan.to} is primary at gtid ${r.gtid || 'empty'} (applied its relay log in ${r.waitedMs} ms, role recorded in ${r.recordMs} ms${r.deferredReset ? '; RESET SLAVE ALL in the repoint step' : ''})${note}`;
        },
        repoint: async () => {
          const stopMs = await finishPromotion(env, toDb);
          for (const n of plan.repoint) await attachReplica(env, serviceOn(env, n, 'mariadb'), toDb);
          const reset = stopMs !== undefined ? `${plan.to}: replication config dropped (STOP SLAVE took ${stopMs} ms); ` : '';
          return (
            reset +
            (plan.repoint.length
              ? `${plan.repoint.join(', ')} replicate from ${plan.to} (semi-sync on)`
              : 'no other replica to repoint; the new primary runs without a replica until the old one is rebuilt')
          );
        },
        redis: () => askRedis(),
        services: async () => `${await waitRedisSettled(env, plan.from)}; ${await waitServicesHealthy(env, plan.from)}`,
        dns: (cur) => dnsStep(env, cur),
        verify: (cur) => verifyEndToEnd(env, plan.from, `hastack-failover-verify-${cur.id}`),
        report: async (cur) => {
          const ro = await withDb(env, toDb, readDb, REACH_TIMEOUT_MS);
          if (ro.readOnly || ro.slave.configured) throw new HastackError(ErrorCode.PROMOTION_FAILED, `${plan.to} is not a writable primary any more; see "hastack status"`);
          return `failover ${cur.id} complete: ${plan.to} is the primary; ${plan.from} is fenced (down; its database comes back read-only, as a replica): rebuild it before it rejoins (move its mariadb/data aside, then heal or restart its node: hastack copies it from a live node with mariabackup)`;
        },
      },
      out,
      o.mayGoOn,
    );
    j = { ...j, finishedAt: new Date().toISOString() };
    writeJournal(stateDir, j);
    // The window was the old primary's; the new one is watched afresh.
    writeAsyncWindow(stateDir, undefined);
    // `fenced`: the old primary's node is down and stays down until rebuilt (a switchover's is not).
    appendEvent(stateDir, { type: 'failover.done', message: `failover ${j.id} done: ${plan.to} is primary`, data: { id: j.id, from: plan.from, to: plan.to, fenced: plan.from } });
    return { journal: j, resumed, dryRun: false, lines, plan: view };
  } finally {
    release();
  }
}
