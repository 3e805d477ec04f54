import type { ServiceInstance, Topology } from '../config/index.js';
import { servicesOf } from '../config/index.js';
import { etcdClientFor } from '../engines/index.js';

/*
 * The etcd leader kept off the database primary's node (issue 23: kill → first order ≤ 3 s).
 *
 * When etcd elects a new leader, the new leader extends every lease by an election timeout
 * (etcd's lessor Promote: a lease's clock restarts at the election, plus the timeout), so no lease
 * expires while leadership moves. Killing the primary's MACHINE also kills its etcd member; the
 * member that started first usually leads, and that is often the primary's. Then the primary's
 * lease ran out only ~4.3 s after the kill (about 1 s to elect, then 1 s + the 2 s TTL), and the
 * promotion waited for it (measured: `waiting: the primary key is held by primary` from 2.4 s to
 * 4.3 s after the kill). With the leader elsewhere, no election follows the kill and the lease ends
 * 2 s after the primary's last renewal: the wait is the detection's, not the lease's.
 *
 * So the acting controller checks, every LEADER_CHECK_MS, whether the primary's node hosts the
 * etcd leader and, if so, hands leadership (etcd's MoveLeader, a planned transfer of a few ms, no
 * lease lost) to a member on a node without a database (the witness), else to any other member.
 */

/** How often the acting controller looks at where the etcd leader is: a transfer is rare (after etcd or a node restarts). */
export const LEADER_CHECK_MS = 5_000;

export interface EtcdMember {
  readonly ID?: string;
  readonly name?: string;
}

/**
 * The member leadership should move to, or undefined: a member not on `primaryNode`, preferring
 * one on a node without a MariaDB (the witness: it is never the primary). Pure.
 */
export function leaderTarget(members: readonly EtcdMember[], topo: Topology, primaryNode: string): EtcdMember | undefined {
  const dbNodes = new Set(servicesOf(topo, 'mariadb').map((s) => s.node));
  const others = members.filter((m) => m.ID !== undefined && m.name !== undefined && m.name !== primaryNode);
  return others.find((m) => !dbNodes.has(m.name as string)) ?? others[0];
}

/**
 * If the etcd member on `primaryNode` leads, moves leadership off it; returns what it did, or
 * undefined when nothing had to move (or the primary's node has no etcd member). Asks that member
 * itself: MoveLeader must be sent to the leader, and its status says whether it is one.
 */
export async function moveEtcdLeaderOff(topo: Topology, rootPassword: string | undefined, primaryNode: string): Promise<string | undefined> {
  const own: ServiceInstance | undefined = servicesOf(topo, 'etcd').find((s) => s.node === primaryNode);
  if (own === undefined) return undefined;
  const c = etcdClientFor(own, rootPassword, 1_000);
  const st = await c.call<{ header?: { member_id?: string }; leader?: string }>('/v3/maintenance/status', {});
  if (st.leader === undefined || st.header?.member_id !== st.leader) return undefined;
  const list = await c.call<{ members?: EtcdMember[] }>('/v3/cluster/member/list', {});
  const target = leaderTarget(list.members ?? [], topo, primaryNode);
  if (target === undefined) return undefined;
  await c.call('/v3/maintenance/transfer-leadership', { targetID: target.ID });
  return `moved the etcd leader from ${primaryNode} (the database primary's node) to ${target.name}: a lost primary machine then costs no etcd election, and its lease ends on time`;
}
