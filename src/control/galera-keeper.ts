import type { Connection, RowDataPacket } from 'mysql2/promise';
import { servicesOf, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { galeraHealth, statusVars, withAdmin } from '../engines/index.js';
import { describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { sleep } from '../shared/retry.js';

/**
 * The Galera quorum keeper: gives a majority that lost its primary component by accident the
 * component back, through Galera's own rule.
 *
 * Why: when a node dies, the others agree on a new view. If that agreement times out
 * (`evs.install_timeout`, "install timer expired"), each survivor drops to a non-Primary component
 * of its own. They find each other again a second later, but Galera restores a primary component
 * from non-Primary ones only when every member of the last one is back, and the dead node never
 * comes back under its old identity (a restarted server has a new gcomm UUID). So the majority
 * stays non-Primary, commits nothing, and a restarted node waits for a primary that never comes:
 * the whole database is down until an operator bootstraps it by hand. Seen in CI (a three-node
 * cluster, the writer killed under load: both survivors non-Primary for good) and reproduced here
 * on an idle machine (survivors cut from each other for 8 s while the third was killed).
 *
 * What it does, and why that is safe: Galera leaves *evicted* members out of that rule
 * (`pc_proto.cpp` `is_prim`: "re-bootstrapping prim from partitioned components" when every
 * non-evicted member of the greatest last primary view is present). When every reachable node is
 * non-Primary, those that were members of the last primary component (their own UUID in its list,
 * `mysql.wsrep_cluster_members`) agree on that list and are more than half of it, the members
 * missing from them cannot be in any primary component (one needs a majority of that list, and
 * every majority holds one of ours). Then, after the state held for `STUCK_MS`:
 * 1. the missing members' UUIDs are evicted on each of ours (`evs.evict`);
 * 2. one of ours is cut from the group for `ISOLATE_MS` (`gmcast.isolate`) and let back: the view
 *    change that makes Galera run its rule again (an eviction alone changes no view);
 * 3. once a primary component is back, the eviction lists are cleared (`evs.evict=`), so a member
 *    that was only cut off can join again without a restart.
 * Galera itself decides at step 2 whether the component may be primary; nothing here bootstraps
 * one (`pc.bootstrap` would trust this process's look). A keeper that starts lets every node back
 * first, in case one that died in step 2 left its node isolated.
 *
 * Runs where the lock reaper runs: in the supervisor (local, netns) and in the controller on the
 * admin API's node (hosts). Measured (`galera.test.ts` (b2), three nodes): Primary again 7.7–7.9 s
 * after the survivors reached each other, 3 s of it judging the state stuck.
 */

/** One node as one round saw it. */
export interface GaleraLook {
  readonly node: string;
  readonly reachable: boolean;
  readonly primary?: boolean;
  /** This server's gcomm UUID (`wsrep_gcomm_uuid`). */
  readonly uuid?: string;
  /** The last primary component this server saw, by gcomm UUID (`mysql.wsrep_cluster_members`). */
  readonly lastPrimary?: readonly { readonly uuid: string; readonly name: string }[];
  /** Its eviction list (`wsrep_evs_evict_list`). */
  readonly evicted?: readonly string[];
}

export type KeeperPlan =
  | { readonly act: 'none'; readonly why: string }
  | {
      readonly act: 'restore';
      readonly members: readonly string[];
      readonly evict: readonly { readonly uuid: string; readonly name: string }[];
      readonly nudge: string;
      readonly why: string;
    };

/** Pure: what one round's looks call for. `members` are the nodes that get the eviction. */
export function planKeeper(looks: readonly GaleraLook[]): KeeperPlan {
  const up = looks.filter((l) => l.reachable);
  if (up.some((l) => l.primary === true)) return { act: 'none', why: 'a primary component exists' };
  if (up.length === 0) return { act: 'none', why: 'no node answers' };
  // Members of the last primary component under their current identity: a restarted node is not one.
  const members = up.filter((l) => l.uuid !== undefined && (l.lastPrimary ?? []).some((m) => m.uuid === l.uuid));
  if (members.length === 0) return { act: 'none', why: 'no answering node was a member of the last primary component (a fresh start or a full recovery)' };
  const list = (l: GaleraLook): string =>
    (l.lastPrimary ?? [])
      .map((m) => m.uuid)
      .sort()
      .join(',');
  const last = members[0] as GaleraLook;
  if (members.some((l) => list(l) !== list(last))) return { act: 'none', why: 'the answering nodes disagree on the last primary component' };
  const lastPrimary = last.lastPrimary ?? [];
  const ours = new Set(members.map((l) => l.uuid));
  if (ours.size * 2 <= lastPrimary.length) {
    return { act: 'none', why: `${ours.size} of the last primary component's ${lastPrimary.length} members answer: no majority, nothing to restore from` };
  }
  const evict = lastPrimary.filter((m) => !ours.has(m.uuid));
  if (evict.length === 0) return { act: 'none', why: 'every member of the last primary component answers: Galera re-forms it once they reach each other' };
  const names = members.map((l) => l.node);
  return {
    act: 'restore',
    members: names,
    evict,
    nudge: names[names.length - 1] as string,
    why: `${names.join(', ')} (${ours.size} of the last primary component's ${lastPrimary.length} members) are non-Primary without ${evict.map((m) => m.name).join(', ')}`,
  };
}

/** How often the nodes are looked at. */
export const KEEPER_INTERVAL_MS = 1_000;
/** Stuck, not a spell Galera ends itself: survivors stay Primary through a view change, and two non-Primary components that Galera may merge back do so within a second. */
export const STUCK_MS = 3_000;
/** Longer than evs.inactive_timeout (4 s): the others drop the isolated node, then it merges back. */
export const ISOLATE_MS = 5_500;
/** After the isolation: how long Galera may take to merge and install a primary view. */
const PRIMARY_WAIT_MS = 10_000;
// Connecting and both queries of a look; one round a second, so a slow node delays the next round, never overlaps it.
const LOOK_TIMEOUT_MS = 2_000;

export interface GaleraKeeper {
  stop(): Promise<void>;
}

type Ctx = { readonly topo: Topology; readonly secrets: Secrets };

const withNode = <T>(ctx: Ctx, svc: ServiceInstance, fn: (c: Connection) => Promise<T>): Promise<T> =>
  withAdmin({ ...ctx, svc, asRoot: process.getuid?.() === 0 }, LOOK_TIMEOUT_MS, fn);

async function look(ctx: Ctx, svc: ServiceInstance): Promise<GaleraLook> {
  try {
    return await withNode(ctx, svc, async (c) => {
      const v = await statusVars(c, 'wsrep_%');
      const [rows] = await c.query<RowDataPacket[]>({ sql: 'SELECT node_uuid, node_name FROM mysql.wsrep_cluster_members', timeout: LOOK_TIMEOUT_MS });
      const evicted = (v['wsrep_evs_evict_list'] ?? '').split(',').filter((u) => u !== '');
      return {
        node: svc.node,
        reachable: true,
        primary: galeraHealth(v).primary,
        ...(v['wsrep_gcomm_uuid'] ? { uuid: v['wsrep_gcomm_uuid'] } : {}),
        lastPrimary: rows.map((r) => ({ uuid: String(r['node_uuid']), name: String(r['node_name']) })),
        evicted,
      };
    });
  } catch {
    return { node: svc.node, reachable: false };
  }
}

const setOption = (ctx: Ctx, svc: ServiceInstance, option: string): Promise<unknown> =>
  // The value is a UUID Galera printed or a fixed word: no user input reaches this statement.
  withNode(ctx, svc, (c) => c.query({ sql: `SET GLOBAL wsrep_provider_options = ?`, values: [option], timeout: LOOK_TIMEOUT_MS }));

/** Starts the keeper on a Galera cluster's database nodes; undefined for any other database mode. */
export function startGaleraKeeper(topo: Topology, secrets: Secrets): GaleraKeeper | undefined {
  if (topo.config.database.mode !== 'galera') return undefined;
  const ctx: Ctx = { topo, secrets };
  const dbs = servicesOf(topo, 'mariadb');
  const svcOf = (node: string): ServiceInstance => dbs.find((s) => s.node === node) as ServiceInstance;
  const event = (message: string, data: Record<string, unknown> = {}): void =>
    void appendEvent(topo.stateDir, { type: 'step', message: `galera keeper: ${message}`, data: { op: 'galera-keeper', ...data } });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> = Promise.resolve();
  let stuckSince: number | undefined;
  let first = true;
  /** UUIDs this keeper evicted: cleared from the lists once a primary component is back. */
  const ours = new Set<string>();

  const restore = async (plan: Extract<KeeperPlan, { act: 'restore' }>): Promise<void> => {
    event(`${plan.why}, for ${Math.round(STUCK_MS / 1000)} s; evicting ${plan.evict.map((m) => `${m.name}'s ${m.uuid}`).join(', ')} on ${plan.members.join(', ')}`, {
      members: plan.members,
      evict: plan.evict,
    });
    for (const m of plan.evict) {
      await Promise.all(plan.members.map((n) => setOption(ctx, svcOf(n), `evs.evict=${m.uuid}`)));
      ours.add(m.uuid);
    }
    event(`isolating ${plan.nudge} for ${ISOLATE_MS} ms: the view change after which Galera re-forms the primary component`, { node: plan.nudge });
    try {
      await setOption(ctx, svcOf(plan.nudge), 'gmcast.isolate=1');
      await sleep(ISOLATE_MS);
    } finally {
      await setOption(ctx, svcOf(plan.nudge), 'gmcast.isolate=0').catch(() => undefined);
    }
    const t0 = Date.now();
    while (!stopped && Date.now() - t0 < PRIMARY_WAIT_MS) {
      const looks = await Promise.all(plan.members.map((n) => look(ctx, svcOf(n))));
      if (looks.some((l) => l.primary === true)) {
        event(`${plan.members.join(', ')} are a primary component again`, { members: plan.members });
        return;
      }
      await sleep(500);
    }
    event(`no primary component ${PRIMARY_WAIT_MS} ms after the isolation; trying again while the state lasts (see "hastack status"; "hastack db recover" is the crash plan)`);
  };

  const round = async (): Promise<void> => {
    if (first) {
      // A keeper that died in step 2 left its node isolated (Galera does not list the option, so
      // it cannot be looked at): a new keeper lets every node back once. A no-op on the others.
      first = false;
      await Promise.all(dbs.map((s) => setOption(ctx, s, 'gmcast.isolate=0').catch(() => undefined)));
    }
    const looks = await Promise.all(dbs.map((s) => look(ctx, s)));
    const plan = planKeeper(looks);
    if (plan.act === 'none') {
      stuckSince = undefined;
      if (ours.size > 0 && looks.some((l) => l.primary === true)) {
        const listing = looks.filter((l) => (l.evicted ?? []).some((u) => ours.has(u)));
        await Promise.all(listing.map((l) => setOption(ctx, svcOf(l.node), 'evs.evict=').catch(() => undefined)));
        // Until every node answered, one may still list them: cleared when it answers.
        if (looks.every((l) => l.reachable)) {
          event(`eviction lists cleared on ${listing.map((l) => l.node).join(', ') || 'no node'}: a member that was only cut off may join again`);
          ours.clear();
        }
      }
      return;
    }
    stuckSince ??= Date.now();
    if (Date.now() - stuckSince < STUCK_MS) return;
    stuckSince = undefined;
    await restore(plan);
  };

  const tick = (): void => {
    ticking = round()
      .catch((e: unknown) => event(`round failed: ${describeError(e)}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, KEEPER_INTERVAL_MS);
      });
  };
  timer = setTimeout(tick, KEEPER_INTERVAL_MS);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await ticking;
    },
  };
}
