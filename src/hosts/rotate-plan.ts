import { controllerNode, servicesOf, type SecretName, type ServiceInstance, type ServiceKind, type Topology } from '../config/index.js';
import { secretsOf } from '../registry/index.js';
import { DB_USERS } from '../engines/index.js';
import type { EngineSecret } from '../failover/index.js';
import { serviceUnitName, unitPrefix } from './units.js';

/**
 * The steps of `hastack secrets rotate` on `substrate: hosts`, in order, pure (no host is asked):
 * the same engine order as on one machine (src/failover/rotate.ts, whose comments give the
 * reasons), run through each engine's host agent, with the one-machine "save secrets.json" step
 * replaced by three:
 *  1. every engine takes the new password beside the old (and the replicas and Sentinels use it);
 *  2. `save`: the operator's secrets.json gets the new values (the journal still holds both);
 *  3. `push`: each host that holds a rotated secret gets its new secrets.json (its subset only,
 *     written as `apply` writes it, so a later `deploy` finds nothing to change);
 *  4. `restart`: one unit at a time, each healthy (an app server: back in every load balancer)
 *     before the next: the app servers, workers and the controller, which read the passwords at
 *     start (an engine changes its password live and is not restarted);
 *  5. the old passwords are dropped.
 * Every step is idempotent: a re-run after an interruption does again the one it was in.
 */

export type PairOp = 'redis-accept' | 'redis-masterauth' | 'redis-drop-old' | 'sentinel-accept' | 'sentinel-peer-pass' | 'sentinel-drop-old';

export type HostStepAction =
  /** An op of `_agent secrets` taking the new and the old value of `secret`, on the service's host. */
  | { readonly do: 'pair'; readonly op: PairOp; readonly svc: ServiceInstance; readonly secret: 'redisPassword' | 'sentinelPassword' }
  | { readonly do: 'sentinel-auth-pass'; readonly svc: ServiceInstance }
  /** On whichever node takes writes when the step runs (binlogged, replicated). `final`: only the new password. */
  | { readonly do: 'db-account'; readonly user: string; readonly secret: EngineSecret; readonly final: boolean }
  | { readonly do: 'db-root-local'; readonly svc: ServiceInstance; readonly final: boolean }
  | { readonly do: 'db-repl'; readonly svc: ServiceInstance }
  | { readonly do: 'save' }
  | { readonly do: 'push'; readonly node: string }
  /** `svc` absent: the controller (no probe; running again under a new pid is enough). */
  | { readonly do: 'restart'; readonly node: string; readonly unit: string; readonly svc?: ServiceInstance };

export interface HostStep {
  /** Stable across runs: the journal records the ids done. */
  readonly id: string;
  readonly what: string;
  readonly action: HostStepAction;
}

/** hastack's own processes, which read the passwords once at start (engines change theirs live). */
const RESTARTED_KINDS: readonly ServiceKind[] = ['app', 'worker', 'lb', 'dns'];

function readsAny(kind: ServiceKind, names: readonly EngineSecret[]): boolean {
  return secretsOf(kind).some((k) => (names as readonly SecretName[]).includes(k));
}

/**
 * `held`: the secret names each node's secrets.json holds (what `deploy` sends it). Only nodes
 * holding a rotated secret get a new file.
 */
export function planHostRotation(topo: Topology, names: readonly EngineSecret[], held: ReadonlyMap<string, readonly SecretName[]>): HostStep[] {
  const has = (k: EngineSecret): boolean => names.includes(k);
  const steps: HostStep[] = [];
  const push = (id: string, what: string, action: HostStepAction): void => void steps.push({ id, what, action });
  const each = (list: readonly ServiceInstance[], id: string, what: string, action: (svc: ServiceInstance) => HostStepAction): void => {
    for (const svc of list) push(`${id}:${svc.id}`, `${svc.id}: ${what}`, action(svc));
  };
  const redis = servicesOf(topo, 'redis');
  const sentinels = servicesOf(topo, 'sentinel');
  const dbs = servicesOf(topo, 'mariadb');
  const pair =
    (op: PairOp, secret: 'redisPassword' | 'sentinelPassword') =>
    (svc: ServiceInstance): HostStepAction => ({ do: 'pair', op, svc, secret });

  if (has('redisPassword')) {
    each(redis, 'redis-accept', 'Redis accepts the new password beside the old', pair('redis-accept', 'redisPassword'));
    each(redis, 'redis-masterauth', 'replicas authenticate to their master with the new password', pair('redis-masterauth', 'redisPassword'));
    each(sentinels, 'sentinel-auth-pass', 'Sentinel authenticates to Redis with the new password', (svc) => ({ do: 'sentinel-auth-pass', svc }));
  }
  if (has('sentinelPassword')) {
    each(sentinels, 'sentinel-accept', 'Sentinel accepts the new password beside the old', pair('sentinel-accept', 'sentinelPassword'));
    each(sentinels, 'sentinel-peer-pass', 'Sentinel authenticates to the other Sentinels with the new password', pair('sentinel-peer-pass', 'sentinelPassword'));
  }
  const accounts: Array<{ secret: EngineSecret; user: string }> = [
    { secret: 'dbReplPassword', user: DB_USERS.repl },
    { secret: 'dbAppPassword', user: DB_USERS.app },
    { secret: 'dbRootPassword', user: DB_USERS.admin },
  ];
  const rotatingDb = dbs.length > 0 ? accounts.filter((a) => has(a.secret)) : [];
  for (const a of rotatingDb) {
    push(`db-accept:${a.user}`, `database: account ${a.user} accepts the new password beside the old (on the primary, replicated)`, {
      do: 'db-account',
      user: a.user,
      secret: a.secret,
      final: false,
    });
  }
  if (has('dbRootPassword')) each(dbs, 'db-root-accept', "root's local accounts accept the new password beside the old", (svc) => ({ do: 'db-root-local', svc, final: false }));
  if (has('dbReplPassword') && topo.config.database.mode === 'replication') {
    each(dbs, 'db-repl-replica', 'a replica logs in to its primary with the new password, replication restarted (nothing to do on the primary)', (svc) => ({ do: 'db-repl', svc }));
  }

  push('save', "the operator's secrets.json: the new passwords saved (0600)", { do: 'save' });
  for (const n of topo.nodes) {
    const rotatedHere = (held.get(n.name) ?? []).filter((k) => (names as readonly SecretName[]).includes(k));
    if (rotatedHere.length > 0) push(`push:${n.name}`, `${n.name}: its new secrets.json (0600; ${rotatedHere.join(', ')})`, { do: 'push', node: n.name });
  }
  // One unit at a time, host after host: the load balancers keep using the other app servers.
  const ctl = controllerNode(topo.config, topo.nodes).name;
  for (const n of topo.nodes) {
    for (const svc of topo.services.filter((s) => s.node === n.name && RESTARTED_KINDS.includes(s.kind) && readsAny(s.kind, names))) {
      push(`restart:${svc.id}`, `${svc.id}: restarted with the new passwords, healthy${svc.kind === 'app' ? ' and back in every load balancer' : ''}`, {
        do: 'restart',
        node: n.name,
        unit: serviceUnitName(topo, svc),
        svc,
      });
    }
    if (n.name === ctl && names.length > 0) {
      push(`restart:${n.name}/controller`, `${n.name}: the controller restarted with the new passwords`, {
        do: 'restart',
        node: n.name,
        unit: `${unitPrefix(topo.cluster)}-controller`,
      });
    }
  }

  for (const a of rotatingDb) {
    push(`db-drop-old:${a.user}`, `database: account ${a.user} takes only the new password (on the primary, replicated)`, {
      do: 'db-account',
      user: a.user,
      secret: a.secret,
      final: true,
    });
  }
  if (has('dbRootPassword')) each(dbs, 'db-root-drop-old', "root's local accounts take only the new password", (svc) => ({ do: 'db-root-local', svc, final: true }));
  if (has('redisPassword')) each(redis, 'redis-drop-old', 'Redis takes only the new password', pair('redis-drop-old', 'redisPassword'));
  if (has('sentinelPassword')) each(sentinels, 'sentinel-drop-old', 'Sentinel takes only the new password', pair('sentinel-drop-old', 'sentinelPassword'));
  return steps;
}
