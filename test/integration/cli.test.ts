/** The CLI's promises about bad input: no engines needed. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.js';

const dir = tempDir('cli');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('hastack CLI', () => {
  it('a bad config exits 2 with one line naming the key', async () => {
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'nodes:\n  - name: a\n    services: [lb, app, mariadb, redsi]\n');
    const res = await runCli(['up', '--no-install', '-f', file], { cwd: dir });
    assert.equal(res.code, 2);
    const lines = res.stderr.trim().split('\n');
    assert.equal(lines.length, 1, res.stderr);
    assert.match(lines[0] ?? '', /nodes\[0\]\.services\[3\]/);
  });

  it('an unknown key is named too', async () => {
    const file = path.join(dir, 'typo.yaml');
    fs.writeFileSync(file, 'nodes:\n  - name: a\n    services: [lb, app, mariadb, redis]\nredis:\n  qorum: 2\n');
    const res = await runCli(['status', '-f', file], { cwd: dir });
    assert.equal(res.code, 2);
    assert.match(res.stderr, /redis\.qorum/);
  });

  it('init writes a config that up accepts, and refuses to overwrite it', async () => {
    const file = path.join(dir, 'init.yaml');
    const first = await runCli(['init', '--preset', 'simple', '-f', file], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    assert.match(fs.readFileSync(file, 'utf8'), /preset: simple/);
    const second = await runCli(['init', '-f', file], { cwd: dir });
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /--force/);
  });

  it('missing engines lead to the exact install command (doctor exits 3, up refuses with it)', async () => {
    const env = { HASTACK_ENGINE_SEARCH_PATH: path.join(dir, 'no-engines-here') };
    const doctor = await runCli(['doctor'], { cwd: dir, env });
    assert.equal(doctor.code, 3);
    assert.match(doctor.stdout, /redis-server\s+redis-server\s+MISSING/);
    // the packages in the order of the registry's kinds (database first); the test needs only both there
    const install = /apt-get install -y --no-install-recommends (.*)/.exec(doctor.stdout)?.[1] ?? '';
    for (const p of ['redis-server', 'mariadb-server']) assert.ok(install.split(' ').includes(p), `${p} in: ${install}`);
    const up = await runCli(['up', '--no-install', '--preset', 'simple', '--state-root', path.join(dir, 'never')], { cwd: dir, env });
    assert.equal(up.code, 3);
    assert.match(up.stderr, /missing for its engines: .*redis-server[\s\S]*apt-get install/);
  });

  it("doctor checks the configured substrate's tools; setup --tests names everything the test suite needs", async () => {
    const env = { HASTACK_ENGINE_SEARCH_PATH: path.join(dir, 'no-engines-here') };
    const netns = path.join(dir, 'netns.yaml');
    assert.equal((await runCli(['init', '--preset', 'simple', '-f', netns], { cwd: dir })).code, 0);
    fs.appendFileSync(netns, 'substrate: netns\n');
    const doctor = await runCli(['doctor', '-f', netns], { cwd: dir, env });
    assert.equal(doctor.code, 3);
    assert.match(doctor.stdout, /iptables-restore\s+iptables\s+MISSING/);
    assert.match(doctor.stdout, /nsenter\s+util-linux\s+MISSING/);
    const tests = await runCli(['setup', '--tests', '--dry-run'], { cwd: dir, env });
    assert.equal(tests.code, 0, tests.stderr);
    const line = /would run: .*apt-get install -y --no-install-recommends (.*)/.exec(tests.stdout)?.[1]?.split(' ') ?? [];
    // galera-4 and fonts-liberation are found by absolute path, which the search override does not hide.
    for (const pkg of ['redis-server', 'mariadb-server', 'iptables', 'chromium', 'openssh-server', 'openssh-client', 'keepalived']) {
      assert.ok(line.includes(pkg), `${pkg} in: ${tests.stdout}`);
    }
  });

  it('status of a cluster that never ran says to run up', async () => {
    const res = await runCli(['status', '--preset', 'simple', '--state-root', path.join(dir, 'none')], { cwd: dir });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /hastack up/);
  });
});
