import type { z } from 'zod';
import { servicesOf, type ServiceInstance, type Topology } from '../config/index.js';
import { describeRecovery, isFreshCluster, planRecovery, type NodeFacts, type RecoveryPlan } from '../engines/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { sleep } from '../shared/retry.js';
import { galeraChosenSchema, galeraLookSchema, nodeFactsSchema, type GaleraLook, type GaleraRequest } from './galera-agent.js';
import type { HostSession } from './session.js';
import { serviceUnitName } from './units.js';

/*
 * A Galera cluster's start and full-cluster recovery on hosts, from the operator's machine: the
 * decisions are the local substrate's (engines/galera-recover.ts, pure), the facts and the
 * choice are read and written by each database host's agent (`_agent galera`, galera-agent.ts).
 * `deploy` calls it before it starts services; `hastack db recover` on hosts calls it with
 * `joinAll` (it also starts the joiners, one at a time, each synced before the next).
 *
 * - Some node in a Primary component: nothing to bootstrap (the others join it when started).
 * - Otherwise every database unit is stopped first (under systemd after a reboot, or the keeper
 *   after a crash, they keep restarting into a cluster with no primary), each node's position is
 *   read one host at a time, and either:
 *   - no node ever joined a cluster (a first deploy): the first node bootstraps a new one;
 *   - else the recovery plan: the most advanced node (highest seqno of one cluster UUID) gets
 *     safe_to_bootstrap and the marker, the others lose both; it is started and must be a synced
 *     Primary before anything else starts. A node whose position cannot be read (its host did not
 *     answer, --wsrep-recover failed) refuses the plan: it may hold the newest commits.
 */

export interface GaleraOnHostsOptions {
  readonly dryRun: boolean;
  /** Start the joiners too, one at a time (db recover); deploy leaves them to its start plan. */
  readonly joinAll: boolean;
  readonly step: (message: string, data?: Record<string, unknown>) => void;
}

export type GaleraOnHostsOutcome =
  /** A Primary component runs; `missing` were not synced in it (started when joinAll). */
  | { readonly result: 'running'; readonly primary: readonly string[]; readonly missing: readonly string[] }
  /** No node ever joined: every db unit is stopped and the first node is marked to bootstrap. */
  | { readonly result: 'fresh'; readonly bootstrap: string }
  /** Dry run: the plan (or its refusal), nothing changed. */
  | { readonly result: 'planned'; readonly plan: RecoveryPlan; readonly facts: readonly NodeFacts[] }
  /** The plan's node was bootstrapped and is Primary (and, with joinAll, every other node synced). */
  | { readonly result: 'recovered'; readonly plan: Extract<RecoveryPlan, { ok: true }>; readonly facts: readonly NodeFacts[] };

/** A look answers in a second or two (the agent starts, one SHOW STATUS). */
const LOOK_TIMEOUT_MS = 30_000;
/** Three --wsrep-recover attempts of up to 90 s each (engines/galera.ts), plus the agent's start. */
const FACTS_TIMEOUT_MS = 300_000;
/** Holding a unit down (SIGKILL) or starting one: the agent and the service manager, seconds. */
const STOP_TIMEOUT_MS = 120_000;
/** The bootstrap node is Primary within seconds; 120 s bounds a long InnoDB crash recovery. */
const BOOTSTRAP_TIMEOUT_MS = 120_000;
/** A joiner: IST in seconds, a full mariabackup SST ~13 s per 100 MB here; 300 s bounds a few GB. */
const JOIN_TIMEOUT_MS = 300_000;
const POLL_MS = 500;

function sessionOf(sessions: ReadonlyMap<string, HostSession>, node: string): HostSession {
  const s = sessions.get(node);
  if (!s) throw new HastackError(ErrorCode.INTERNAL, `no host session for ${node}`);
  return s;
}

function call<T>(s: HostSession, id: string, req: GaleraRequest, schema: z.ZodType<T>, timeoutMs: number): Promise<T> {
  return s.agentJson('galera', ['--id', id], schema, { input: JSON.stringify(req), timeoutMs });
}

export async function lookGalera(s: HostSession, svc: ServiceInstance): Promise<GaleraLook | { unit: undefined; active: false; health: null; error: string }> {
  try {
    return await call(s, svc.id, { op: 'look' }, galeraLookSchema, LOOK_TIMEOUT_MS);
  } catch (e) {
    return { unit: undefined, active: false, health: null, error: `host ${s.node} did not answer: ${describeError(e)}` };
  }
}

async function waitFor(s: HostSession, svc: ServiceInstance, want: 'primary' | 'synced', timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const l = await lookGalera(s, svc);
    if (l.health && l.health.primary && (want === 'primary' ? l.health.healthy : l.health.synced)) return l.health.detail;
    last = l.health?.detail ?? l.error ?? 'no answer';
    if (Date.now() > deadline) {
      throw new HastackError(
        ErrorCode.HEALTH_TIMEOUT,
        `${svc.id} is not ${want === 'primary' ? 'a Primary' : 'synced'} after ${timeoutMs} ms (${last}); read "hastack logs ${svc.node} mariadb", then run "hastack db recover" again (it resumes from what it finds)`,
      );
    }
    await sleep(POLL_MS);
  }
}

async function startAndWait(s: HostSession, svc: ServiceInstance, unit: string, want: 'primary' | 'synced', timeoutMs: number): Promise<string> {
  await s.agent('start', [unit], { timeoutMs: STOP_TIMEOUT_MS });
  return waitFor(s, svc, want, timeoutMs);
}

export async function galeraOnHosts(topo: Topology, sessions: ReadonlyMap<string, HostSession>, o: GaleraOnHostsOptions): Promise<GaleraOnHostsOutcome> {
  const dbs = servicesOf(topo, 'mariadb');
  const looks = await Promise.all(dbs.map((svc) => lookGalera(sessionOf(sessions, svc.node), svc)));
  const unitOf = (svc: ServiceInstance): string => looks[dbs.indexOf(svc)]?.unit ?? serviceUnitName(topo, svc);
  const primary = dbs.filter((_, i) => looks[i]?.health?.primary === true);
  if (primary.length > 0) {
    const missing = dbs.filter((_, i) => !(looks[i]?.health?.primary === true && looks[i]?.health?.synced === true));
    o.step(`galera: ${primary.map((s) => s.node).join(', ')} in a Primary component${missing.length > 0 ? `; not synced in it: ${missing.map((s) => s.node).join(', ')}` : ''}`, {
      primary: primary.map((s) => s.node),
      missing: missing.map((s) => s.node),
    });
    if (o.joinAll && !o.dryRun) {
      for (const svc of missing) {
        o.step(`galera: starting ${svc.node}: it joins by IST from its position, or by a full state transfer`, { node: svc.node });
        o.step(`galera: ${svc.node} synced: ${await startAndWait(sessionOf(sessions, svc.node), svc, unitOf(svc), 'synced', JOIN_TIMEOUT_MS)}`, { node: svc.node });
      }
    }
    return { result: 'running', primary: primary.map((s) => s.node), missing: missing.map((s) => s.node) };
  }
  for (const [i, svc] of dbs.entries()) {
    const l = looks[i];
    o.step(
      `galera: ${svc.node}: ${l?.unit === undefined ? (l?.error ?? 'no answer') : `unit ${l.active ? 'running' : 'stopped'}, ${l.health?.detail ?? 'server not answering'}`}`,
      { node: svc.node },
    );
  }
  o.step('galera: no node is in a Primary component');
  if (!o.dryRun) {
    // Held down before the positions are read: a running (restarting) server and --wsrep-recover
    // must not share a datadir, and none may form a cluster while the choice is made. Killed, not
    // stopped: none is in a Primary component, so none commits (a clean stop of a node waiting
    // for a primary took 16-28 s here), and --wsrep-recover reads the position InnoDB has.
    await Promise.all(
      dbs.map(async (svc, i) => {
        if (looks[i]?.unit === undefined || looks[i]?.active !== true) return;
        await call(sessionOf(sessions, svc.node), svc.id, { op: 'halt' }, galeraLookSchema, STOP_TIMEOUT_MS);
        o.step(`galera: ${unitOf(svc)} on ${svc.node} held down (killed: with no Primary component it commits nothing)`, { node: svc.node });
      }),
    );
  }
  o.step("galera: reading each node's position (grastate.dat, and mariadbd --wsrep-recover after a crash), one host at a time");
  const facts: NodeFacts[] = [];
  for (const svc of dbs) {
    const s = sessionOf(sessions, svc.node);
    try {
      if (o.dryRun && looks[dbs.indexOf(svc)]?.active === true) {
        facts.push({ node: svc.node, hasDatadir: true, sstInterrupted: false, recoverError: 'its unit runs; the real run stops it first and reads its position' });
        continue;
      }
      const f = await call(s, svc.id, { op: 'facts' }, nodeFactsSchema, FACTS_TIMEOUT_MS);
      facts.push(stripUndefined(f));
    } catch (e) {
      // Unknown is not "behind": the plan refuses while any node's position is unknown.
      facts.push({ node: svc.node, hasDatadir: true, sstInterrupted: false, recoverError: `host ${s.node} did not answer: ${describeError(e)}` });
    }
  }
  if (isFreshCluster(facts)) {
    const first = dbs[0] as ServiceInstance;
    o.step(`galera: no node ever joined a cluster: ${first.node} bootstraps a new one, the others join it by state transfer`, { bootstrap: first.node });
    if (!o.dryRun) await chooseEverywhere(sessions, dbs, first.node, { reason: 'first start: no node ever joined a cluster' });
    return { result: 'fresh', bootstrap: first.node };
  }
  const plan = planRecovery(facts);
  for (const line of describeRecovery(facts, plan)) o.step(`galera recovery: ${line.trim()}`, { recovery: true, facts });
  if (!plan.ok) {
    if (o.dryRun) return { result: 'planned', plan, facts };
    throw new HastackError(ErrorCode.SETUP_FAILED, `galera recovery refused: ${plan.reason}`);
  }
  if (o.dryRun) return { result: 'planned', plan, facts };
  const position = `${plan.position.uuid}:${plan.position.seqno}`;
  await chooseEverywhere(sessions, dbs, plan.bootstrap, { reason: plan.reason, position });
  o.step(`galera recovery: safe_to_bootstrap cleared on every node and set on ${plan.bootstrap} only`, { bootstrap: plan.bootstrap, position });
  const first = dbs.find((s) => s.node === plan.bootstrap) as ServiceInstance;
  o.step(`galera recovery: bootstrapping ${first.node} (--wsrep-new-cluster --wsrep-start-position=${position})`, { bootstrap: first.node, position });
  const detail = await startAndWait(sessionOf(sessions, first.node), first, unitOf(first), 'primary', BOOTSTRAP_TIMEOUT_MS);
  o.step(`galera recovery: ${first.node} is Primary: ${detail}`, { node: first.node });
  if (o.joinAll) {
    for (const node of plan.joinOrder) {
      const svc = dbs.find((s) => s.node === node) as ServiceInstance;
      o.step(`galera recovery: starting ${node}: it joins by IST from its recovered position, or by a full state transfer`, { node });
      o.step(`galera recovery: ${node} synced: ${await startAndWait(sessionOf(sessions, node), svc, unitOf(svc), 'synced', JOIN_TIMEOUT_MS)}`, { node });
    }
  }
  return { result: 'recovered', plan, facts };
}

/** The chosen node's marker and safe_to_bootstrap, and every other node's cleared. */
async function chooseEverywhere(
  sessions: ReadonlyMap<string, HostSession>,
  dbs: readonly ServiceInstance[],
  bootstrap: string,
  how: { reason: string; position?: string },
): Promise<void> {
  // The others first: at no moment do two nodes carry the bootstrap flag.
  const order = [...dbs.filter((s) => s.node !== bootstrap), ...dbs.filter((s) => s.node === bootstrap)];
  for (const svc of order) {
    const req: GaleraRequest =
      svc.node === bootstrap
        ? { op: 'choose', bootstrap: true, reason: how.reason, ...(how.position !== undefined ? { position: how.position } : {}) }
        : { op: 'choose', bootstrap: false, reason: '' };
    await call(sessionOf(sessions, svc.node), svc.id, req, galeraChosenSchema, LOOK_TIMEOUT_MS);
  }
}

/** zod's optional fields come back as `undefined` keys; NodeFacts wants them absent (exactOptionalPropertyTypes). */
function stripUndefined(f: ReturnType<typeof nodeFactsSchema.parse>): NodeFacts {
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as unknown as NodeFacts;
}
