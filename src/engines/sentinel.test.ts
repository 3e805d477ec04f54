import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pickMaster, renderSentinelConf } from './sentinel.js';

describe('renderSentinelConf', () => {
  const text = renderSentinelConf({
    id: 'app1/sentinel',
    address: '127.0.50.3',
    port: 26379,
    dir: '/tmp/x/app1/sentinel',
    masterName: 'hastack',
    master: { host: '127.0.50.1', port: 6379 },
    quorum: 2,
    downAfterMs: 1500,
    failoverTimeoutMs: 10000,
    redisPassword: 'rpw',
    sentinelPassword: 'spw',
  });
  const lines = text.split('\n');

  it('monitors the master with the quorum, then sets its options (monitor must come first)', () => {
    const monitor = lines.indexOf('sentinel monitor hastack 127.0.50.1 6379 2');
    assert.ok(monitor >= 0);
    for (const l of [
      'sentinel auth-pass hastack "rpw"',
      'sentinel down-after-milliseconds hastack 1500',
      'sentinel failover-timeout hastack 10000',
      'sentinel parallel-syncs hastack 1',
    ]) {
      const i = lines.indexOf(l);
      assert.ok(i > monitor, `${l} must follow the monitor line`);
    }
  });

  it('authenticates clients and peers, and announces its own address', () => {
    for (const l of [
      'port 26379',
      'bind 127.0.50.3',
      'requirepass "spw"',
      'sentinel sentinel-pass "spw"',
      'sentinel resolve-hostnames no',
      'sentinel announce-ip 127.0.50.3',
      'bind-source-addr 127.0.50.3',
      'dir "/tmp/x/app1/sentinel"',
    ]) {
      assert.ok(lines.includes(l), `missing line: ${l}`);
    }
  });
});

describe('pickMaster', () => {
  const old = { host: '127.0.50.3', port: 6379 };
  const promoted = { host: '127.0.50.4', port: 6379 };

  it('takes the newest epoch even when most sentinels still name the old master (just after a failover)', () => {
    assert.deepEqual(
      pickMaster(
        [
          { addr: old, epoch: 0 },
          { addr: promoted, epoch: 1 },
          { addr: old, epoch: 0 },
        ],
        2,
      ),
      promoted,
    );
  });

  it('answers nothing when fewer than the quorum answer', () => {
    assert.equal(pickMaster([{ addr: promoted, epoch: 1 }], 2), undefined);
    assert.equal(pickMaster([], 1), undefined);
  });

  it('does not guess between two masters at the same epoch', () => {
    assert.equal(
      pickMaster(
        [
          { addr: old, epoch: 2 },
          { addr: promoted, epoch: 2 },
        ],
        2,
      ),
      undefined,
    );
  });
});
