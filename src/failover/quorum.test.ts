import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readEventsFrom } from '../shared/events.js';
import { autoModeFile, describeAutoMode, planModeChange, readAutoMode, readAutoModeSafe, turnOffAfterFailure, writeAutoMode } from './auto-mode.js';
import { FENCE_AFTER_MS, LEASE_TTL_S, leaseValid } from './quorum.js';
import { guardDecision, PROMOTING, type GuardView } from './self-fence.js';
import { leaderTarget } from './etcd-leader.js';
import { parseConfig, preset, resolveTopology } from '../config/index.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-quorum-unit-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const view = (v: Partial<GuardView>): GuardView => ({
  writable: true,
  leaseFresh: true,
  holder: undefined,
  heldByUs: false,
  fencedByUs: false,
  replicating: false,
  etcdAnswered: true,
  ...v,
});

describe('the primary guard (self-fence) decides', () => {
  it('a writable primary claims the free key, or the key a controller claimed for it', () => {
    assert.equal(guardDecision('db1', view({})), 'claim');
    assert.equal(guardDecision('db1', view({ holder: PROMOTING })), 'claim');
    assert.equal(guardDecision('db1', view({ holder: 'db1' })), 'claim');
  });
  it('a writable primary whose held lease is not fresh fences itself, even when etcd does not answer', () => {
    assert.equal(guardDecision('db1', view({ heldByUs: true, leaseFresh: false })), 'fence');
    assert.equal(guardDecision('db1', view({ heldByUs: true, leaseFresh: false, etcdAnswered: false })), 'fence');
  });
  it('never claims a key another node holds, nor without a fresh lease', () => {
    assert.equal(guardDecision('db1', view({ holder: 'db2' })), 'none');
    assert.equal(guardDecision('db1', view({ leaseFresh: false })), 'none');
    assert.equal(guardDecision('db1', view({ etcdAnswered: false })), 'none');
  });
  it('lifts its own fence only with the same lease renewed, or the key re-claimed (never after a controller claimed it)', () => {
    assert.equal(guardDecision('db1', view({ writable: false, fencedByUs: true, heldByUs: true })), 'unfence');
    assert.equal(guardDecision('db1', view({ writable: false, fencedByUs: true, holder: undefined })), 'claim');
    // Its own name under the lease a stuck round let go of locally: the key never went away.
    assert.equal(guardDecision('db1', view({ writable: false, fencedByUs: true, holder: 'db1' })), 'claim');
    assert.equal(guardDecision('db1', view({ writable: false, fencedByUs: true, holder: PROMOTING })), 'none');
    assert.equal(guardDecision('db1', view({ writable: false, fencedByUs: true, holder: 'db2' })), 'none');
    assert.equal(guardDecision('db1', view({ writable: false, fencedByUs: true, heldByUs: true, leaseFresh: false })), 'none');
  });
  it('never lifts its fence on a server that replicates since (rebuilt or repointed): it would take writes beside the replication', () => {
    assert.equal(guardDecision('db1', view({ writable: false, fencedByUs: true, replicating: true, holder: undefined })), 'none');
    assert.equal(guardDecision('db1', view({ writable: false, fencedByUs: true, replicating: true, heldByUs: true })), 'release');
  });
  it('a server made read-only by someone else (switchover, the runbook) lets its key go; a silent server: nothing', () => {
    assert.equal(guardDecision('db1', view({ writable: false, heldByUs: true, holder: 'db1' })), 'release');
    assert.equal(guardDecision('db1', view({ writable: undefined, heldByUs: true, leaseFresh: false })), 'none');
  });
});

describe('lease arithmetic', () => {
  it('the primary fences itself at least 800 ms before etcd could let its lease expire', () => {
    const renewed = 10_000;
    const margin = LEASE_TTL_S * 1000 - FENCE_AFTER_MS;
    assert.ok(margin >= 800);
    assert.equal(leaseValid(renewed, LEASE_TTL_S, renewed + FENCE_AFTER_MS - 1, margin), true);
    assert.equal(leaseValid(renewed, LEASE_TTL_S, renewed + FENCE_AFTER_MS, margin), false);
    assert.equal(leaseValid(undefined, LEASE_TTL_S, renewed, 0), false);
  });
});

describe('the automatic mode safety valves', () => {
  it('on when no file; a failed failover turns it off with why, until resume; pause and resume are events', () => {
    const dir = path.join(root, 'mode');
    fs.mkdirSync(dir);
    assert.equal(readAutoMode(dir).state, 'on');
    assert.equal(describeAutoMode(readAutoMode(dir)), undefined);
    turnOffAfterFailure(dir, 'FENCE_FAILED: the fence command exited 1');
    const off = readAutoMode(dir);
    assert.equal(off.state, 'off');
    assert.match(describeAutoMode(off) ?? '', /OFF.*FENCE_FAILED.*hastack resume/);
    assert.equal(planModeChange(off, 'pause').change, 'automatic failover off → paused');
    const resume = planModeChange(off, 'resume');
    assert.ok(resume.next);
    writeAutoMode(dir, resume.next);
    assert.equal(readAutoMode(dir).state, 'on');
    assert.equal(planModeChange(readAutoMode(dir), 'resume').next, undefined, 'already on');
    const types = readEventsFrom(dir, 0)
      .events.filter((e) => e.type === 'failover.mode')
      .map((e) => (e.data as { state: string }).state);
    assert.deepEqual(types, ['off', 'on']);
  });
  it('a corrupt mode file is never read as on', () => {
    const dir = path.join(root, 'corrupt');
    fs.mkdirSync(dir);
    fs.writeFileSync(autoModeFile(dir), '{"state":"maybe"}');
    assert.throws(() => readAutoMode(dir), /maybe/);
    assert.equal(readAutoModeSafe(dir).state, 'off');
  });
});

describe('leaderTarget: where the etcd leadership goes when the primary node holds it', () => {
  const topo = resolveTopology(parseConfig(preset('simple')), { stateRoot: '/nonexistent', configDir: '/nonexistent' });
  const members = [
    { ID: '11', name: 'primary' },
    { ID: '22', name: 'standby' },
    { ID: '33', name: 'witness' },
  ];
  it('the witness (no database: never the primary) first, else any other member; never the primary itself', () => {
    assert.deepEqual(leaderTarget(members, topo, 'primary'), { ID: '33', name: 'witness' });
    assert.deepEqual(leaderTarget(members, topo, 'standby'), { ID: '33', name: 'witness' });
    assert.deepEqual(leaderTarget(members.slice(0, 2), topo, 'primary'), { ID: '22', name: 'standby' });
    assert.equal(leaderTarget([{ ID: '11', name: 'primary' }], topo, 'primary'), undefined);
  });
});
