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
      { Variable_name: 'wsrep_last_committed', Value: '1234' },
    ]);
    assert.deepEqual(g, { localState: 4, ready: true, clusterStatus: 'Primary', lastCommitted: 1234n });
  });
  it('a server without Galera (no wsrep rows) is never a Galera reader or writer', () => {
    const g = parseWsrepStatus([]);
    assert.equal(g.lastCommitted, -1n, 'no seqno: no read-your-writes shortcut from the probe');
    const plan = planRoutes([{ id: 'db1', reachable: true, readOnly: false, binlogPos: '', slavePos: '', replication: 'none', galera: g }], {
      mode: 'galera',
      maxLagTransactions: 100,
    });
    assert.equal(plan.writer, undefined);
  });
  it('reads replication threads, and no row as not replicating', () => {
    assert.deepEqual(parseSlaveThreads({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'No' }), { ioRunning: true, sqlRunning: false, ioConnecting: false });
    assert.deepEqual(parseSlaveThreads({ Slave_IO_Running: 'Connecting', Slave_SQL_Running: 'Yes' }), { ioRunning: false, sqlRunning: true, ioConnecting: true });
    assert.equal(parseSlaveThreads(undefined), 'none');
  });
});
