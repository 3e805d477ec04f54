import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectedReplicas, keyedHash } from './session.js';

describe('keyedHash', () => {
  it('review item 2: a session id is stored as an HMAC under the cluster key, never in clear', () => {
    const id = 'Zq3vS1d8Xb0J2mN4pQ6rT8uV0wX2yZ4aB6cD8eF0gH2';
    const h = keyedHash('cluster-key-1', 'session', id);
    assert.match(h, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!h.includes(id));
    assert.equal(keyedHash('cluster-key-1', 'session', id), h, 'stable: every app server finds the same key');
    assert.notEqual(keyedHash('cluster-key-2', 'session', id), h, 'another cluster key, another name: without the key the name is not computable');
    assert.notEqual(keyedHash('cluster-key-1', 'counter', id), h, 'uses are kept apart');
  });
});

describe('connectedReplicas', () => {
  it('reads connected_slaves from the master INFO (a logout waits for that many)', () => {
    assert.equal(connectedReplicas('# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1\r\n'), 2);
    assert.equal(connectedReplicas('role:slave\r\n'), 0);
  });
});
