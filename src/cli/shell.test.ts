import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mariadbClientOptions, splitNode } from './shell.js';

describe('db shell / redis-cli', () => {
  it('an option after -- is an argument of the client, not a node', () => {
    assert.deepEqual(splitNode('-e', ['SELECT 1']), [undefined, ['-e', 'SELECT 1']]);
    assert.deepEqual(splitNode('db2', ['-e', 'SELECT 1']), ['db2', ['-e', 'SELECT 1']]);
  });
  it('the option file carries the password (never argv)', () => {
    assert.equal(mariadbClientOptions('/s/mysqld.sock', 'pw'), '[client]\nuser=root\nsocket=/s/mysqld.sock\npassword=pw\n');
  });
});
