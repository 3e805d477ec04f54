/**
 * `hastack audit` against a cluster deployed on the host bed (test/helpers/hostbed.ts): the facts
 * come from each host's agent over SSH. The `simple` preset plus a witness, with failover.auto
 * (so the controller's key is installed). Then a weakened host: secrets.json chmod 0644.
 *
 * PENDING_ELSEWHERE lists the findings that other work of issue 17 removes (item 4: services as
 * their own users, the controller key restricted; item 2: memcached firewalled on hosts): until
 * those land, the audit reports them here and the test accepts exactly those, and no other.
 *
 * Addresses 10.213.204.x (the bed's namespaces); cluster "audhosts".
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { runCli, tempDir } from '../helpers/cli.js';
import { startHostBed, type HostBed } from '../helpers/hostbed.js';
import { simpleOnBed } from '../helpers/hosts-config.js';

/** Findings that belong to other items of issue 17 (see the header); every other code fails the test. */
const PENDING_ELSEWHERE = new Set(['RUNS_AS_ROOT', 'KEY_UNRESTRICTED', 'MEMCACHED_REACHABLE']);

interface AuditJson {
  exitCode: number;
  findings: Array<{ code: string; severity: string; where: string; message: string }>;
}

describe('hastack audit on the host bed (simple preset + a witness, over SSH)', { timeout: 12 * 60_000 }, () => {
  const dir = tempDir('audhosts');
  const configFile = path.join(dir, 'hastack.yaml');
  let bed: HostBed;
  const audit = async (): Promise<{ code: number; json: AuditJson; stdout: string }> => {
    const r = await runCli(['audit', '--json', '-f', configFile], { cwd: dir, timeoutMs: 180_000 });
    let json: AuditJson;
    try {
      json = JSON.parse(r.stdout) as AuditJson;
    } catch {
      throw new Error(`audit printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    return { code: r.code, json, stdout: r.stdout };
  };

  before(async () => {
    bed = await startHostBed({ hosts: ['primary', 'standby', 'ops'], addressBase: '10.213.204' });
    fs.writeFileSync(configFile, YAML.stringify(simpleOnBed(bed, 'audhosts', { failover: { auto: true } })));
    const r = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 400_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
  after(async () => {
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 }).catch(() => undefined);
    await bed?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds nothing of the admin API, binds, file modes or store auth; only what other items fix', async () => {
    const { code, json } = await audit();
    const bad = json.findings.filter((f) => f.severity === 'finding');
    process.stdout.write(`\n--- hastack audit (host bed): exit ${code}\n${bad.map((f) => `${f.code} ${f.where}: ${f.message}`).join('\n')}\n`);
    const unexpected = bad.filter((f) => !PENDING_ELSEWHERE.has(f.code));
    assert.deepEqual(unexpected, [], 'findings outside the items other branches fix');
    assert.equal(code, bad.length > 0 ? 1 : 0);
    // The controller's admin API was probed from its host (loopback) and refused what it must.
    assert.ok(!json.findings.some((f) => f.code.startsWith('ADMIN_') || f.code === 'AUDIT_INCOMPLETE'));
  });

  it('names SECRET_FILE_MODE on the host whose secrets.json is chmod 0644, and exits 1', async () => {
    const primary = bed.hosts[0]?.name ?? 'primary';
    await bed.exec(primary, 'chmod 644 /var/lib/hastack/audhosts/secrets.json');
    try {
      const { code, json } = await audit();
      assert.equal(code, 1);
      assert.ok(
        json.findings.some((f) => f.code === 'SECRET_FILE_MODE' && f.where === 'primary:/var/lib/hastack/audhosts/secrets.json'),
        JSON.stringify(json.findings.filter((f) => f.severity === 'finding'), null, 1),
      );
    } finally {
      await bed.exec(primary, 'chmod 600 /var/lib/hastack/audhosts/secrets.json');
    }
  });
});
