import { spawn } from 'node:child_process';
import type { Secrets, ServiceInstance, Topology } from '../config/index.js';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { recordRole, serviceOn, type FailoverEnv } from './context.js';
import { fenceReachable } from './db-ops.js';
import { failpointArmed } from '../shared/failpoints.js';
import type { FenceOutcome } from './decide.js';
import type { JournalPlan } from './journal.js';

/*
 * The crash plan's fence step. Through the old primary's machine first (its role recorded there,
 * read_only=1 if its server answers, its node killed and kept down by whoever owns its processes);
 * when that machine does not answer (powered off, frozen, cut off), through `failover.fence`, a
 * command that powers it off out of band (IPMI, a cloud API). No promotion without one of the two,
 * or an operator's explicit word that the machine is off (`--machine-off NODE`): a machine we could
 * not reach may still be running and taking writes, and a split brain is worse than waiting.
 */

/** How the runbook takes a node down: through the supervisor, which owns the processes. */
export interface NodeFencer {
  /** SIGKILL every process of the node and keep it down until healed. Idempotent. */
  killNode(node: string): Promise<void>;
  /**
   * Real hosts: `db`'s role recorded as replica, then every process of `node` killed, in one call
   * on its machine (each call starts the hastack CLI there over SSH: seconds on a loaded host).
   * Absent: the fence records and kills in two calls.
   */
  fenceMachine?(node: string, db: ServiceInstance): Promise<void>;
  isAlive(pid: number): boolean;
}

/** What the operator may say (`hastack failover --machine-off NODE`); the automatic mode says nothing. */
export interface FenceOptions {
  /** The operator confirms this node's machine is powered off (or cut off for good). */
  readonly machineOff?: string;
}

/** The bounded tail of the command's output kept for the event log and messages. */
const OUTPUT_KEEP_CHARS = 1_000;

export interface FenceCommandResult {
  /** Exit code; null when killed at the timeout or when it could not start. */
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly ms: number;
  /** The last OUTPUT_KEEP_CHARS characters of stdout and stderr, secrets masked. */
  readonly output: string;
}

/** The environment contract of `failover.fence`. */
export function fenceEnv(topo: Topology, node: string): Record<string, string> {
  return { HASTACK_FENCE_NODE: node, HASTACK_FENCE_ADDRESS: topo.nodes.find((n) => n.name === node)?.address ?? '', HASTACK_CLUSTER: topo.cluster };
}

// `password=...`, `token: ...`, `Authorization: Bearer ...`: a command that echoes its request or
// its credentials must not put them in the event log.
const CREDENTIAL = /\b(authorization|password|passwd|token|secret|api[-_]?key)(\s*[:=]\s*)(bearer\s+|basic\s+)?\S+/gi;

/** The output with the cluster's secrets and anything that looks like a credential masked. */
export function maskSecrets(text: string, secrets: Partial<Secrets> | undefined): string {
  let out = text;
  for (const v of Object.values(secrets ?? {})) {
    // Short values would mask ordinary words; every generated secret is far longer.
    if (typeof v === 'string' && v.length >= 8) out = out.split(v).join('***');
  }
  return out.replace(CREDENTIAL, (_m, k: string, sep: string, scheme: string | undefined) => `${k}${sep}${scheme ?? ''}***`);
}

/**
 * Runs `failover.fence` (`sh -c`) in a process group of its own with the fence environment,
 * bounded: at the timeout the whole group is SIGKILLed (a `curl` or `ipmitool` under the shell
 * included). Never throws.
 */
export function runFenceCommand(command: string, env: Record<string, string>, timeoutMs: number, secrets?: Partial<Secrets>): Promise<FenceCommandResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    let settled = false;
    const done = (code: number | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, timedOut, ms: Date.now() - t0, output: maskSecrets(output.trim(), secrets).slice(-OUTPUT_KEEP_CHARS) });
    };
    const child = spawn('sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    // Only a tail is kept (twice what is shown, so a secret split at the cut is still masked whole).
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-2 * OUTPUT_KEEP_CHARS);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.once('error', (e) => {
      output += describeError(e);
      done(null);
    });
    child.once('close', (code) => done(timedOut ? null : code));
    // A daemon it left behind (setsid) may hold the pipes open: 'close' would never come. Its exit
    // code decides; the output is read a moment longer, then the pipes are let go.
    child.once('exit', (code) => {
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        done(timedOut ? null : code);
      }, 1_000).unref();
    });
  });
}

/** The dry run's line for the fence step. */
export function describeFence(env: FailoverEnv, plan: JournalPlan): string {
  const cmd = env.topo.config.failover.fence;
  const through = plan.fromReachable ? `${plan.from}: record role replica, read_only=1, stop the node` : `${plan.from}: record role replica on its machine, kill its node`;
  const e = fenceEnv(env.topo, plan.from);
  const fallback = cmd
    ? `if its machine does not answer over SSH: run failover.fence here (${cmd}) with HASTACK_FENCE_NODE=${e.HASTACK_FENCE_NODE} HASTACK_FENCE_ADDRESS=${e.HASTACK_FENCE_ADDRESS} HASTACK_CLUSTER=${e.HASTACK_CLUSTER}, within ${env.topo.config.failover.fenceTimeoutMs / 1000} s; promote only on exit 0`
    : `if its machine does not answer over SSH: stop (no failover.fence to power it off) unless run with --machine-off ${plan.from}`;
  return `${through}; ${fallback}`;
}

export interface FenceStepResult {
  readonly message: string;
  /** The old primary's binlog once writes stopped, when its server answered. */
  readonly fenced: FenceOutcome | undefined;
}

/**
 * The fence step (see the file's comment). Idempotent: a re-run records, stops and kills again,
 * and the fence command must be idempotent too (a machine already off: exit 0).
 */
export async function fenceStep(env: FailoverEnv, fencer: NodeFencer, plan: JournalPlan, jobId: string, o: FenceOptions = {}): Promise<FenceStepResult> {
  const stateDir = env.topo.stateDir;
  const fromDb = serviceOn(env, plan.from, 'mariadb');
  let unreachable: unknown;
  const failed = (e: unknown): void => {
    unreachable ??= e;
  };
  const silent = async (): Promise<void> => {
    if (failpointArmed('fence.machine-silent')) {
      throw new HastackError(ErrorCode.HOST_UNREACHABLE, `${plan.from}'s machine is silent (failpoint fence.machine-silent: a test's machine without power or network)`);
    }
  };
  // The role recorded, whatever happens next: a restart of the old primary comes back read-only.
  // Where the fencer records and kills in one call (hosts), the look below comes first: a server
  // that answered is recorded, then killed, in two calls as anywhere else.
  const oneCall = fencer.fenceMachine?.bind(fencer);
  const recorded = oneCall
    ? undefined
    : silent()
        .then(() => recordRole(env, fromDb, 'replica'), failed)
        .catch(failed);
  let fenced: FenceOutcome | undefined;
  try {
    // Over its unix socket where the controller shares its machine: this reaches a primary that is
    // alive behind a network partition, not only one the network still shows.
    fenced = await fenceReachable(env, fromDb);
  } catch {
    // Unreachable (dead or frozen): the recorded role and the node kill fence it.
  }
  if (oneCall && fenced === undefined) {
    // Its server did not answer: its role recorded and its node killed in one call.
    await silent()
      .then(() => oneCall(plan.from, fromDb))
      .catch(failed);
  } else {
    const recordedNow = recorded ?? silent().then(() => recordRole(env, fromDb, 'replica'), failed);
    const kill = (): Promise<void> => fencer.killNode(plan.from).catch(failed);
    // A server that answered is stopped only once its role is recorded (it may be restarted
    // before the kill). One that did not answer is killed at once, beside the recording, and a
    // fence counts as done only when both succeeded.
    if (fenced === undefined) await Promise.all([recordedNow, kill()]);
    else {
      await recordedNow;
      if (unreachable === undefined) await kill();
    }
  }
  const how =
    fenced === undefined
      ? ' (its database did not answer)'
      : `, read_only=1 at ${fenced.binlog || 'empty gtid'}${fenced.semiSyncHeld ? ' (semi-sync held: any tail beyond the replicas was never acknowledged)' : ' (semi-sync off or fell back: the new primary must have all of it)'}`;
  if (unreachable === undefined) return { message: `${plan.from}: recorded as replica${how}, node killed and kept down`, fenced };

  // The machine did not let us record the role or kill the node: only a power-off fences it now.
  const why = describeError(unreachable);
  const cfg = env.topo.config.failover;
  const ack = o.machineOff === plan.from;
  if (!cfg.fence) {
    if (ack) {
      appendEvent(stateDir, {
        type: 'failover.fence',
        message: `failover ${jobId}: ${plan.from}'s machine does not answer (${why}); the operator confirmed it is off (--machine-off ${plan.from})`,
        data: { id: jobId, node: plan.from, by: 'operator' },
      });
      return {
        message: `${plan.from}: its machine does not answer; fenced by the operator's word (--machine-off ${plan.from})${how}; record its role as replica before it boots again`,
        fenced,
      };
    }
    throw new HastackError(
      ErrorCode.FENCE_FAILED,
      `${plan.from}'s machine does not answer (${why}), and no failover.fence is configured to power it off: nothing was promoted, since it may still be running and taking writes. ` +
        `Set failover.fence to a command that powers a node's machine off (see "Fencing a machine that is gone" in the README), or make sure it is off (power it off by hand, or cut it off for good) and run "hastack failover --machine-off ${plan.from}"`,
      { details: { step: 'fence', node: plan.from } },
    );
  }
  const fenv = fenceEnv(env.topo, plan.from);
  appendEvent(stateDir, {
    type: 'failover.fence',
    message: `failover ${jobId}: ${plan.from}'s machine does not answer (${why}): running failover.fence (HASTACK_FENCE_NODE=${plan.from} HASTACK_FENCE_ADDRESS=${fenv.HASTACK_FENCE_ADDRESS})`,
    data: { id: jobId, node: plan.from, address: fenv.HASTACK_FENCE_ADDRESS, phase: 'start' },
  });
  const r = await runFenceCommand(cfg.fence, fenv, cfg.fenceTimeoutMs, env.secrets);
  const said = r.output ? `: ${r.output}` : '';
  const outcome = r.timedOut ? `did not finish within ${cfg.fenceTimeoutMs} ms (killed)` : `exited ${r.code ?? 'without a code'} after ${r.ms} ms`;
  appendEvent(stateDir, {
    type: 'failover.fence',
    message: `failover ${jobId}: failover.fence for ${plan.from} ${outcome}`,
    data: { id: jobId, node: plan.from, phase: 'done', code: r.code, timedOut: r.timedOut, ms: r.ms, output: r.output },
  });
  if (r.code === 0) return { message: `${plan.from}: its machine does not answer; powered off by failover.fence (exit 0 in ${r.ms} ms)${how}`, fenced };
  if (ack) return { message: `${plan.from}: failover.fence ${outcome}; fenced by the operator's word (--machine-off ${plan.from})${how}`, fenced };
  throw new HastackError(
    ErrorCode.FENCE_FAILED,
    `${plan.from}'s machine does not answer (${why}) and failover.fence ${outcome}${said}: nothing was promoted, since it may still be running and taking writes. ` +
      `Fix the command (run it by hand with HASTACK_FENCE_NODE=${plan.from} HASTACK_FENCE_ADDRESS=${fenv.HASTACK_FENCE_ADDRESS}) or power the machine off yourself, then run "hastack failover" (it resumes at the fence, or plans again if the automatic mode gave this failover up)` +
      `; once you know it is off, "hastack failover --machine-off ${plan.from}" goes ahead without the command`,
    { details: { step: 'fence', node: plan.from, code: r.code, timedOut: r.timedOut } },
  );
}
