import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseReplicationInfo, replicaMayAnswer } from './replicas.js';

const info = (lines: string[]): string => ['# Replication', ...lines, ''].join('\r\n');

describe('replicaMayAnswer (session checks during a Sentinel election)', () => {
  it('a replica following its master answers', () => {
    const s = parseReplicationInfo(info(['role:slave', 'master_host:127.0.0.1', 'master_link_status:up', 'master_last_io_seconds_ago:0']));
    assert.deepEqual(s, { role: 'slave', linkUp: true, linkDownS: undefined });
    assert.equal(replicaMayAnswer(s, 5), true);
  });
  it('a replica whose master just died answers within the failover window, not after', () => {
    const s = parseReplicationInfo(info(['role:slave', 'master_link_status:down', 'master_link_down_since_seconds:3']));
    assert.equal(replicaMayAnswer(s, 5), true);
    assert.equal(replicaMayAnswer(s, 2), false, 'cut off longer than an election: it may have missed a logout');
  });
  it('a replica that never reached its master (-1) does not answer', () => {
    assert.equal(replicaMayAnswer(parseReplicationInfo(info(['role:slave', 'master_link_status:down', 'master_link_down_since_seconds:-1'])), 5), false);
  });
  it('a master never answers in place of the master (a cut-off old master says master too)', () => {
    assert.equal(replicaMayAnswer(parseReplicationInfo(info(['role:master', 'connected_slaves:0'])), 5), false);
  });
});
