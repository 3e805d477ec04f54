import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeHostPlan, hostSteps, type HostReport } from './report.js';

const facts = { os: 'Debian 12', nodeVersion: 'v20.19.0', systemd: true, pid1: 'systemd', installed: 'abc123' };

/** A host with hastack installed whose config changed: one file differs, one unit restarts. */
function hostWithChangedConfig(): HostReport {
  return {
    node: 'db1',
    target: 'root@10.0.0.1',
    facts,
    verdicts: [{ level: 'warn', message: 'clock 2 s ahead' }],
    missingPackages: ['redis-server'],
    installBundle: undefined,
    plan: {
      manager: 'systemd',
      files: [
        { path: 'topology.json', status: 'changed', diff: '-a\n+b\n' },
        { path: 'secrets.json', status: 'same' },
      ],
      units: [
        { name: 'hastack-x-db1-mariadb', role: 'service', changed: true, active: true },
        { name: 'hastack-x-db1-redis', role: 'service', changed: false, active: true },
      ],
    },
    services: ['db1/mariadb', 'db1/redis'],
  };
}

describe('deploy host plan', () => {
  it('text: header, verdicts, then each step, the diff under the files step', () => {
    assert.deepEqual(describeHostPlan(hostWithChangedConfig(), true), [
      'host db1 (root@10.0.0.1): Debian 12, node v20.19.0, systemd',
      '  warning: clock 2 s ahead',
      '  apt-get install redis-server',
      '  files: topology.json (changed)',
      '  --- topology.json',
      '  -a',
      '  +b',
      '  units: start hastack-x-db1-mariadb (restart: changed); 1 unchanged',
    ]);
    assert.ok(!describeHostPlan(hostWithChangedConfig(), false).includes('  --- topology.json'));
  });

  it('steps: in order, with stable names; the diffs only with --diff', () => {
    const steps = hostSteps(hostWithChangedConfig(), true);
    assert.deepEqual(
      steps.map((s) => s.step),
      ['packages', 'files', 'units'],
    );
    assert.deepEqual(steps[1]?.diffs, [{ path: 'topology.json', diff: '-a\n+b\n' }]);
    assert.equal(hostSteps(hostWithChangedConfig(), false)[1]?.diffs, undefined);
  });

  it('a new host: the bundle, then its files and units', () => {
    const r: HostReport = { ...hostWithChangedConfig(), verdicts: [], missingPackages: [], installBundle: 'def456', plan: undefined };
    assert.deepEqual(describeHostPlan(r, false), [
      'host db1 (root@10.0.0.1): Debian 12, node v20.19.0, systemd',
      '  install hastack def456 (installed now: abc123)',
      "  new: the cluster's files and a unit for each of db1/mariadb, db1/redis; start them",
    ]);
    assert.deepEqual(
      hostSteps(r, false).map((s) => s.step),
      ['bundle', 'new'],
    );
  });

  it('a host not reachable: its verdicts and no step', () => {
    const { facts: _gone, ...rest } = hostWithChangedConfig();
    const r: HostReport = { ...rest, verdicts: [{ level: 'error', message: 'ssh: connection refused' }] };
    assert.deepEqual(describeHostPlan(r, false), ['host db1 (root@10.0.0.1): not reachable', '  ERROR: ssh: connection refused']);
    assert.deepEqual(hostSteps(r, false), []);
  });
});
