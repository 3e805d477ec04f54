/**
 * `partition-db-primary` on the netns substrate (root only): the simple preset (replication mode)
 * with failover.auto. The primary server is cut off from the standby and the host but stays
 * alive. The supervisor's controller sees it lost by itself and by the replica, fences it
 * (read_only over its socket, then its node killed) and promotes the standby. The chaos run
 * samples every node's @@read_only over its socket through the run: never two writable at once;
 * no acknowledged order lost. Addresses 127.0.68.x, namespaces 10.213.70.0/24. Nothing of
 * hastack's network may be left afterwards.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { useCluster } from '../helpers/cluster.js';
import { netnsAutoFailover } from '../../kit/configs.js';

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false;

function printReport(stdout: string, scenario: string): void {
  const at = stdout.indexOf(`scenario ${scenario}  (`);
  process.stdout.write(`\n${at >= 0 ? stdout.slice(at) : stdout}\n`);
}

describe('partition-db-primary: simple preset, replication, automatic failover', { skip, timeout: 6 * 60_000 }, () => {
  // detection 2 s, as in server-auto-failover; the replica itself needs slave_net_timeout (2 s)
  // to notice a silent primary. Semi-sync waits 30 s, longer than detection + fence (~10 s):
  // until the fence, the cut-off primary's commits wait for an ack instead of falling back to
  // asynchronous and being acknowledged with no copy on the standby.
  const used = useCluster('db-partition', netnsAutoFailover('partition-db-primary', 30_000));

  it('the cut-off primary is fenced before the standby is promoted: never two writable primaries, 0 orders lost', async () => {
    const { cluster, topo } = used;
    const json = path.join(cluster.dir, 'pdp.json');
    const res = await runCli(['chaos', 'run', 'partition-db-primary', '--duration', '40', '--json', json, '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 240_000 });
    printReport(res.stdout, 'partition-db-primary');
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown>;
    const events = fs.readFileSync(path.join(topo.stateDir, 'events.jsonl'), 'utf8');
    // The timeline of the failover, with its per-step timings (failover.step data.ms).
    for (const l of events.split('\n').filter((x) => /auto failover|failover fo-|fenced itself|network: |now acts|no longer acts/.test(x))) {
      const e = JSON.parse(l) as { ts?: string; time?: string; message: string; data?: { ms?: number } };
      process.stdout.write(`  ${e.ts ?? e.time ?? ''} ${e.message}${e.data?.ms !== undefined ? ` (${e.data.ms} ms)` : ''}\n`);
    }
    // The scenario happened: the partition, and the failover it should cause.
    assert.match(events, /network: partition \[primary\] \| \[standby witness @host\]/);
    // The decision quorum (issue 23): the primary is fenced before the standby is promoted: by
    // itself when its lease lapsed, or by the runbook's fence when the failover got there first
    // (the lease expires 2 s after the last renewal; the guard's fence and the failover race).
    const fenced = events.search(/primary fenced itself \(read_only|failover fo-\S+: fence: primary: recorded as replica, read_only=1/);
    const promoted = events.search(/failover fo-\S+: promote: standby is primary/);
    assert.ok(fenced >= 0 && promoted > fenced, 'the primary fenced (by itself or by the runbook) before the standby was promoted');
    assert.match(events, /auto failover: failing over: primary primary unreachable from the controller and 1\/1 replicas/);
    assert.match(events, /failover fo-\S+ done: standby is primary/);
    // The fenced primary stays down after the heal, by design: the run does not wait for it.
    assert.deepEqual(r.fencedAfter, ['primary'], 'the fenced primary is named, not waited for');
    // The promises.
    assert.equal(typeof r.maxWritableDbs, 'number', 'the writers were sampled');
    assert.equal(r.twoPrimaryRounds, 0, 'two writable primaries at once');
    assert.equal(r.maxWritableDbs, 1);
    assert.equal(r.lostWrites, 0, 'acknowledged orders lost');
    assert.equal(r.duplicateWrites, 0);
    assert.ok((r.ackedWrites as number) > 0);
    assert.equal(typeof r.firstWriteAfterFaultMs, 'number', 'an order started after the partition was acknowledged');
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}`);
  });
});
