import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, preset } from '../config/index.js';
import { DB_USERS } from '../engines/index.js';
import { reaperVictims, type LockHolder } from './lock-reaper.js';

const holder = (over: Partial<LockHolder>): LockHolder => ({ id: 7, user: DB_USERS.app, host: '10.213.0.4:49684', command: 'Sleep', idleMs: 1_500, waiters: 3, ...over });

describe('the lock reaper picks only idle app sessions that others wait for', () => {
  it('an app session idle past the bound, waited on: killed', () => {
    assert.deepEqual(
      reaperVictims([holder({})], 1_000).map((h) => h.id),
      [7],
    );
  });

  it('running a statement, idle less than the bound, or waited on by nobody: left alone', () => {
    assert.deepEqual(reaperVictims([holder({ command: 'Query' }), holder({ idleMs: 999 }), holder({ waiters: 0 })], 1_000), []);
  });

  it('never replication, backups or an operator: only the app account', () => {
    for (const user of [DB_USERS.admin, DB_USERS.repl, 'root', 'system user', '']) assert.deepEqual(reaperVictims([holder({ user })], 1_000), [], user);
  });

  it('on by default (1 s), 0 turns it off, bounded', () => {
    assert.equal(parseConfig(preset('ideal')).database.idleLockHolderKillMs, 1_000);
    assert.equal(parseConfig({ ...preset('ideal'), database: { mode: 'galera', idleLockHolderKillMs: 0 } }).database.idleLockHolderKillMs, 0);
    assert.throws(() => parseConfig({ ...preset('ideal'), database: { mode: 'galera', idleLockHolderKillMs: -1 } }));
  });
});
