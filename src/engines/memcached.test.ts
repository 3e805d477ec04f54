import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memcachedArgs } from './memcached.js';

describe('memcachedArgs', () => {
  it('binds the node address, turns UDP off and caps memory', () => {
    assert.deepEqual(memcachedArgs({ address: '127.0.50.8', port: 11211, memoryMb: 64, asRoot: false }), ['-l', '127.0.50.8', '-p', '11211', '-U', '0', '-m', '64', '-c', '1024']);
  });

  it('adds -u root when running as root', () => {
    assert.deepEqual(memcachedArgs({ address: '127.0.50.8', port: 11211, memoryMb: 64, asRoot: true }).slice(-2), ['-u', 'root']);
  });
});
