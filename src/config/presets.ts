import type { ConfigInput } from './schema.js';

export const PRESET_NAMES = ['ideal', 'simple'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/**
 * `ideal`: the seed's "ideal architecture": every tier on its own nodes, nothing single.
 * Sentinels sit on the app nodes so that losing any one node (even the Redis master's) leaves
 * two of three Sentinels, a majority, able to fail over.
 * Redis has two replicas so that after a failover the new master still has one to acknowledge
 * durable enqueues (WAIT 1); with a single replica, no job can be queued durably until the old
 * master returns (measured: 11 s of "deferred" confirmations instead of 3 s).
 * The database is a three-node Galera cluster (synchronous, every node has every acknowledged
 * commit): losing any one node leaves two of three, a majority that keeps the cluster Primary.
 */
function ideal(): ConfigInput {
  return {
    cluster: 'hastack',
    preset: 'ideal',
    nodes: [
      { name: 'lb1', services: ['lb', 'dns'] },
      { name: 'lb2', services: ['lb', 'dns'] },
      { name: 'app1', services: ['app', 'sentinel'] },
      { name: 'app2', services: ['app', 'sentinel'] },
      { name: 'app3', services: ['app', 'sentinel'] },
      { name: 'worker1', services: ['worker'] },
      { name: 'worker2', services: ['worker'] },
      { name: 'cache1', services: ['memcached'] },
      { name: 'cache2', services: ['memcached'] },
      { name: 'redis1', services: ['redis'] },
      { name: 'redis2', services: ['redis'] },
      { name: 'redis3', services: ['redis'] },
      { name: 'db1', services: ['mariadb'] },
      { name: 'db2', services: ['mariadb'] },
      { name: 'db3', services: ['mariadb'] },
    ],
    database: { mode: 'galera' },
  };
}

/**
 * `simple`: the seed's "what we do": a primary server and a standby, each carrying every
 * service, plus a small `witness` node (issue 23) with the third etcd member and the third
 * Sentinel: losing either server leaves two of three etcd members (the automatic failover's
 * decision quorum, src/failover/quorum.ts) and two of three Sentinels (Redis fails over by
 * itself). Without the witness a lost server leaves no majority anywhere, and moving to the
 * standby is the crash plan's job, run by the operator (issue 8).
 */
function simple(): ConfigInput {
  const all = ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker', 'lb', 'dns', 'etcd'] as const;
  return {
    cluster: 'hastack',
    preset: 'simple',
    nodes: [
      { name: 'primary', services: [...all] },
      { name: 'standby', services: [...all] },
      { name: 'witness', services: ['etcd', 'sentinel'] },
    ],
    database: { mode: 'replication' },
    redis: { quorum: 2 },
    // The crash plan's end-to-end check writes an order; the example ERP wants a session for that
    // (its demo clerk, from its migration 005: change both for a real app).
    failover: { verifyLogin: { username: 'clerk', password: 'clerk-demo' } },
  };
}

export function preset(name: PresetName): ConfigInput {
  return name === 'ideal' ? ideal() : simple();
}

export function isPresetName(s: string): s is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(s);
}
