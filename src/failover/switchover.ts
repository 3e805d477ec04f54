import { randomBytes } from 'node:crypto';
import { servicesOf, type ServiceInstance } from '../config/index.js';
import { DB_USERS } from '../engines/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { recordRole, serviceOn, type FailoverEnv } from './context.js';
import { attachReplica, promote, readDb, REACH_TIMEOUT_MS, stopWrites, waitApplied, withDb } from './db-ops.js';
import { currentPrimary, type ClusterFacts } from './decide.js';
import { describeFacts, gatherFacts } from './facts.js';
import { takeLock, unfinishedJournal, writeJournal, type Journal, type JournalPlan, type StepName } from './journal.js';
import { describeSwitchoverPlan, switchoverSteps, type RoleChangePlan } from './plan-view.js';
import type { NodeFencer } from './runbook.js';
import { executeSteps } from './steps.js';
import { pauseWrites } from './write-pause.js';

/**
 * Why a switchover was refused (FAILOVER_REFUSED `details.refusal`): primary-unknown (no single
 * primary), primary-down (not reachable and writable: a failover's job), target-unsafe (`--to` is
 * no connected replica of the primary, or is the primary).
 */
export type SwitchoverRefusal = 'primary-unknown' | 'primary-down' | 'target-unsafe';

export const SWITCHOVER_STEPS: readonly StepName[] = ['preflight', 'fence', 'promote', 'repoint', 'report'];

// A connected replica on loopback is milliseconds behind; 10 s of catching up means it is far
// behind, and writes stay stopped meanwhile: give up and give the primary its writes back.
const CATCH_UP_TIMEOUT_MS = 10_000;

// Each round asks the target to reach the primary's current position within this slice; once it
// does, it trails by less than a slice's worth of writes.
const PRE_CATCH_UP_SLICE_MS = 500;
// Measured here: under 4 steady order writers the replica's single SQL thread trailed by 15-40 s
// and caught up only when the load stopped. After 15 s we stop writes anyway; the bounded wait
// (CATCH_UP_TIMEOUT_MS, then writes given back) protects the primary from a longer pause.
const PRE_CATCH_UP_TIMEOUT_MS = 15_000;

/** ms it took to come within a slice of the primary, or undefined if it did not within the bound. */
async function catchUpWhileWriting(env: FailoverEnv, fromDb: ServiceInstance, toDb: ServiceInstance): Promise<number | undefined> {
  const t0 = Date.now();
  while (Date.now() - t0 < PRE_CATCH_UP_TIMEOUT_MS) {
    const pos = await withDb(env, fromDb, async (c) => (await readDb(c)).binlog);
    if (await waitApplied(env, toDb, pos, PRE_CATCH_UP_SLICE_MS)) return Date.now() - t0;
  }
  return undefined;
}

/**
 * read_only=1 on the old primary: the pause that kills no app session (write-pause.ts), or, if
 * its read lock was not had within its bound (a statement that will not finish), the fence's own
 * way (stopWrites: 1 s, then the app's sessions killed), so that a switchover still happens.
 */
async function pauseOrStopWrites(env: FailoverEnv, fromDb: ServiceInstance): Promise<{ binlog: string; how: string }> {
  try {
    const p = await pauseWrites(env, fromDb);
    return { binlog: p.binlog, how: `${p.interrupted} app statement(s) waiting for the read lock interrupted, to be replayed by the app` };
  } catch (e) {
    if ((e as { errno?: unknown }).errno !== LOCK_WAIT_TIMEOUT) throw e;
    const { binlog, killed } = await withDb(env, fromDb, (c) => stopWrites(c, DB_USERS.app, false), 10_000);
    return { binlog, how: `the read lock was not had in time: ${killed} app session(s) killed` };
  }
}

// ER_LOCK_WAIT_TIMEOUT: the pause's read lock waited out its bound.
const LOCK_WAIT_TIMEOUT = 1205;

export interface SwitchoverOptions {
  readonly to: string;
  readonly dryRun?: boolean;
  readonly onProgress?: (line: string) => void;
}

export interface SwitchoverResult {
  readonly journal: Journal;
  readonly dryRun: boolean;
  /** The plan carried out (or, dry, that would be): its steps, facts and reasons. */
  readonly plan: RoleChangePlan;
  /** From read_only=1 on the old primary to read_only=0 on the new one (this run; undefined if resumed past it). */
  readonly writePauseMs?: number;
}

/**
 * A planned role change with the primary alive: stop writes on it (read_only, recorded as
 * replica), wait until the target applied every GTID of its binlog, promote the target, make the
 * old primary a semi-sync replica of it, repoint the other replicas. Journaled and resumable like
 * the failover; a target that cannot catch up in time gives the writes back and changes nothing.
 */
/** The plan's steps (its repoint list starts with the old primary) beside the journal's plan. */
function roleChangeView(plan: JournalPlan, readings: ClusterFacts | undefined): RoleChangePlan {
  return { kind: 'switchover', ...plan, steps: switchoverSteps(plan.from, plan.to, plan.repoint), ...(readings ? { readings } : {}) };
}

export async function runSwitchover(env: FailoverEnv, lock: Pick<NodeFencer, 'isAlive'>, o: SwitchoverOptions): Promise<SwitchoverResult> {
  const out = o.onProgress ?? (() => undefined);
  const stateDir = env.topo.stateDir;
  const release = o.dryRun ? () => undefined : takeLock(stateDir, lock.isAlive);
  try {
    let j = unfinishedJournal(stateDir);
    let readings: ClusterFacts | undefined;
    if (j && j.kind !== 'switchover')
      throw new HastackError(
        ErrorCode.CLUSTER_RUNNING,
        `an unfinished failover (${j.id}) is in ${stateDir}/failover-journal.json; run "hastack failover" again to finish it first`,
      );
    if (j) out(`resuming switchover ${j.id} (${j.plan.from} → ${j.plan.to})`);
    else {
      const facts = await gatherFacts(env);
      const prim = currentPrimary(facts);
      const from = facts.dbs.find((d) => d.node === prim.node);
      const to = facts.dbs.find((d) => d.node === o.to);
      const refused: { refusal: SwitchoverRefusal; problem: string } | undefined =
        !prim.node || !from
          ? { refusal: 'primary-unknown', problem: `cannot tell which node is the primary: ${prim.why}` }
          : !from.reachable || from.readOnly
            ? { refusal: 'primary-down', problem: `the primary ${from.node} is not reachable and writable: use "hastack failover"` }
            : !to
              ? { refusal: 'target-unsafe', problem: `no mariadb node "${o.to}"` }
              : to.node === from.node
                ? { refusal: 'target-unsafe', problem: `${o.to} is already the primary` }
                : !to.reachable || !to.replicating || to.masterNode !== from.node || to.ioThread !== 'running' || to.sqlThread !== 'running'
                  ? {
                      refusal: 'target-unsafe',
                      problem: `${o.to} is not a connected replica of ${from.node} (io ${to.ioThread}, sql ${to.sqlThread}${to.reachable ? '' : ', unreachable'}): it could not take every transaction`,
                    }
                  : undefined;
      const factLines = describeFacts(facts);
      if (refused || !from) {
        for (const l of factLines) out(`  ${l}`);
        throw new HastackError(ErrorCode.FAILOVER_REFUSED, `switchover refused: ${refused?.problem ?? 'no primary'}`, {
          details: { refusal: refused?.refusal ?? 'primary-unknown', facts: factLines, readings: facts },
        });
      }
      const repoint = facts.dbs.filter((d) => d.node !== from.node && d.node !== o.to && d.reachable && d.replicating).map((d) => d.node);
      j = {
        id: `so-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`,
        kind: 'switchover',
        startedAt: new Date().toISOString(),
        plan: {
          from: from.node,
          to: o.to,
          fromReachable: true,
          repoint: [from.node, ...repoint],
          because: [`${o.to} replicates from ${from.node} with both threads running`],
          facts: factLines,
        },
        steps: {},
        runs: 0,
      };
      readings = facts;
      for (const l of describeSwitchoverPlan(roleChangeView(j.plan, facts))) out(l);
    }
    if (o.dryRun) return { journal: j, dryRun: true, plan: roleChangeView(j.plan, readings) };
    const plan = j.plan;
    const fromDb = serviceOn(env, plan.from, 'mariadb');
    const toDb = serviceOn(env, plan.to, 'mariadb');
    j = { ...j, runs: j.runs + 1, steps: { ...j.steps, preflight: j.steps.preflight ?? { doneAt: new Date().toISOString(), message: `plan ${plan.from} → ${plan.to}` } } };
    writeJournal(stateDir, j);
    let stoppedAt: number | undefined;
    let promotedAt: number | undefined;
    j = await executeSteps(
      stateDir,
      j,
      SWITCHOVER_STEPS,
      {
        fence: async (cur) => {
          // Let the target catch up while writes still flow, so that the pause below only covers
          // the last few transactions: a replica's single SQL thread can trail a busy primary.
          const lagged = await catchUpWhileWriting(env, fromDb, toDb);
          out(
            lagged !== undefined
              ? `  ${plan.to} is within ${PRE_CATCH_UP_SLICE_MS} ms of ${plan.from} (after ${lagged} ms)`
              : `  ${plan.to} still trails ${plan.from} after ${PRE_CATCH_UP_TIMEOUT_MS / 1000} s; stopping writes anyway (given back after ${CATCH_UP_TIMEOUT_MS / 1000} s if it does not catch up)`,
          );
          await recordRole(env, fromDb, 'replica');
          stoppedAt = Date.now();
          const { binlog, how } = await pauseOrStopWrites(env, fromDb);
          const stopMs = Date.now() - stoppedAt;
          if (!(await waitApplied(env, toDb, binlog, CATCH_UP_TIMEOUT_MS))) {
            // Give the writes back: nothing changed but a pause.
            await recordRole(env, fromDb, 'primary');
            await withDb(env, fromDb, (c) => c.query('SET GLOBAL read_only=0'));
            writeJournal(stateDir, { ...cur, finishedAt: new Date().toISOString() });
            throw new HastackError(
              ErrorCode.TIMEOUT,
              `${plan.to} did not apply ${binlog} within ${CATCH_UP_TIMEOUT_MS} ms; writes are back on ${plan.from}, nothing changed. Check its lag in "hastack status"`,
            );
          }
          return {
            message: `writes stopped on ${plan.from} at ${binlog} (${stopMs} ms, ${how}); ${plan.to} applied all of it ${Date.now() - stoppedAt - stopMs} ms later`,
            journal: { ...cur, fencedBinlog: binlog },
          };
        },
        promote: async (cur) => {
          const r = await promote(env, toDb, { applyTimeoutMs: CATCH_UP_TIMEOUT_MS, ...(cur.fencedBinlog ? { mustCover: cur.fencedBinlog } : {}) });
          promotedAt = Date.now();
          return `${plan.to} is primary at ${r.gtid}${stoppedAt ? `; writes were stopped for ${promotedAt - stoppedAt} ms` : ''}`;
        },
        repoint: async () => {
          for (const n of plan.repoint) await attachReplica(env, serviceOn(env, n, 'mariadb'), toDb);
          return `${plan.repoint.join(', ')} replicate from ${plan.to} with semi-sync`;
        },
        report: async () => {
          const r = await withDb(env, toDb, readDb, REACH_TIMEOUT_MS);
          if (r.readOnly || r.slave.configured) throw new HastackError(ErrorCode.PROMOTION_FAILED, `${plan.to} is not a writable primary; see "hastack status"`);
          const others = servicesOf(env.topo, 'mariadb')
            .filter((s) => s.node !== plan.to)
            .map((s) => s.node);
          return `${plan.to} is the primary; ${others.join(', ')} replicate from it`;
        },
      },
      out,
    );
    j = { ...j, finishedAt: new Date().toISOString() };
    writeJournal(stateDir, j);
    appendEvent(stateDir, { type: 'failover.done', message: `switchover ${j.id} done: ${plan.to} is primary`, data: { id: j.id, from: plan.from, to: plan.to } });
    return { journal: j, dryRun: false, plan: roleChangeView(plan, undefined), ...(stoppedAt && promotedAt ? { writePauseMs: promotedAt - stoppedAt } : {}) };
  } finally {
    release();
  }
}
