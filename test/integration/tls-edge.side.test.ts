/**
 * HTTPS at the edge on a real cluster (issue 20), kept short: one node carrying every tier with
 * `lb.tls: {}` (the cluster's own CA). `up` prints the HTTPS URL and a curl line that works as
 * printed, and the chaos workload runs over HTTPS (verifying against the cluster CA) with no
 * failed request. The protocol details (versions, SNI, resumption across load balancers, reload
 * under load, OCSP) are proved without engines in src/lb/tls/tls.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { chaosRun, useCluster } from '../helpers/cluster.js';
import { ERP_APP, onRange, soloNodes } from '../../kit/configs.js';
import { testRange } from '../../kit/addresses.js';

describe('HTTPS at the edge on a running cluster', { timeout: 300_000 }, () => {
  const used = useCluster('tlsedge', onRange('tls-edge', { app: ERP_APP, nodes: soloNodes({ dns: true }), lb: { tls: {} } }));

  it('up prints the HTTPS URL and a curl --cacert line that works as printed', () => {
    const address = testRange('tls-edge').address(41);
    assert.match(used.upOutput, new RegExp(`HTTPS \\(lb\\.tls\\):\\s+https://${address.replace(/\./g, '\\.')}:8443/`));
    const line = /try HTTPS: (.+)$/m.exec(used.upOutput)?.[1];
    assert.ok(line, used.upOutput);
    assert.match(line, /curl --cacert \S+\/tls\/ca\.crt /);
    const r = spawnSync('bash', ['-c', line.replace(/curl /g, 'curl -sS ')], { cwd: used.dir, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"items":\[/);
  });

  it('chaos run --https: the workload over TLS, verified against the cluster CA, loses nothing', async () => {
    const { res } = await chaosRun(used, 'baseline', ['--duration', '6', '--clients', '2', '--https']);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /requests\s+\d+ \(\d+ ok, 0 failed\)/);
    // It really was HTTPS: the load balancer counted the workload's handshakes.
    const metrics = spawnSync('curl', ['-sS', `http://${testRange('tls-edge').address(41)}:8404/metrics`], { encoding: 'utf8', timeout: 10_000 });
    assert.match(metrics.stdout, /hastack_lb_tls_handshakes_total\{resumed="false",lb="solo\/lb"\} [1-9]/);
  });
});
