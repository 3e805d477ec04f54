import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSlaveThreads, parseWsrepStatus } from './prober.js';
import { planRoutes } from './routing.js';

describe('probe parsing', () => {
  it('reads a synced Galera node from SHOW GLOBAL STATUS rows', () => {
    const g = parseWsrepStatus([
      { Variable_name: 'wsrep_cluster_status', Value: 'Primary' },
      { Variable_name: 'wsrep_local_state', Value: '4' },
      { Variable_name: 'wsrep_ready', Value: 'ON' },
    ]);
    assert.deepEqual(g, { localState: 4, ready: true, clusterStatus: 'Primary' });
  });
  it('a server without Galera (no wsrep rows) is never a Galera reader or writer', () => {
    const g = parseWsrepStatus([]);
    const plan = planRoutes([{ id: 'db1', reachable: true, readOnly: false, binlogPos: '', slavePos: '', replication: 'none', galera: g }], {
      mode: 'galera',
      maxLagTransactions: 100,
    });
    assert.equal(plan.writer, undefined);
  });
  it('reads replication threads, and no row as not replicating', () => {
    assert.deepEqual(parseSlaveThreads({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'No' }), { ioRunning: true, sqlRunning: false });
    assert.deepEqual(parseSlaveThreads({ Slave_IO_Running: 'Connecting', Slave_SQL_Running: 'Yes' }), { ioRunning: false, sqlRunning: true });
    assert.equal(parseSlaveThreads(undefined), 'none');
  });
});
