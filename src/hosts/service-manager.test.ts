/**
 * The systemd manager's systemctl calls, against a stand-in `systemctl` on PATH that records its
 * arguments (systemd is not PID 1 on the test machines, so the real one cannot run units here).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SystemdManager } from './service-manager.js';
import type { UnitSpec } from './units.js';

const base: UnitSpec = {
  name: 'hastack-shop-db1-redis',
  role: 'service',
  serviceId: 'db1/redis',
  description: 'redis',
  pre: [],
  exec: ['redis-server', '/x/redis.conf'],
  env: {},
  cwd: '/x',
  stopTimeoutMs: 10_000,
  restartSec: 0.2,
  restartMaxSec: 5,
  startTimeoutMs: 60_000,
  limits: { nofile: 1024 },
  logFile: '/x/service.log',
};
const backup: UnitSpec = { ...base, name: 'hastack-shop-backup', role: 'backup', timer: { kind: 'interval', onActiveSec: '1h', onUnitActiveSec: '1h' } };

let dir = '';
let oldPath = '';
const calls = (): string[] => (fs.existsSync(path.join(dir, 'calls')) ? fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n') : []);

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-systemctl-'));
  fs.writeFileSync(
    path.join(dir, 'systemctl'),
    `#!/bin/sh\necho "$*" >> '${dir}/calls'\nif [ "$1" = show ]; then printf 'ActiveState=active\\nMainPID=4242\\nNRestarts=3\\nActiveEnterTimestamp=@1795964400\\n'; fi\n`,
    { mode: 0o755 },
  );
  oldPath = process.env.PATH ?? '';
  process.env.PATH = `${dir}:${oldPath}`;
});
after(() => {
  process.env.PATH = oldPath;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the systemd service manager', () => {
  const m = new SystemdManager({ stateDir: '/s', specs: [base, backup], nodeBin: '/usr/bin/node', cliMain: '/opt/main.js', unitDir: '/etc/systemd/system' });

  it('unit files go to the unit directory; a scheduled unit has a timer too', () => {
    assert.deepEqual(
      m.files(base).map((f) => f.path),
      ['/etc/systemd/system/hastack-shop-db1-redis.service'],
    );
    assert.deepEqual(
      m.files(backup).map((f) => f.path),
      ['/etc/systemd/system/hastack-shop-backup.service', '/etc/systemd/system/hastack-shop-backup.timer'],
    );
  });

  it('install reloads only when files changed, and enables the timer rather than its service', async () => {
    await m.install([base, backup], true);
    await m.install([base], false);
    assert.deepEqual(calls().slice(-3), ['daemon-reload', 'enable hastack-shop-db1-redis.service hastack-shop-backup.timer', 'enable hastack-shop-db1-redis.service']);
  });

  it('start does not block on ExecStartPre; node-down kills then stops so Restart=always does not bring it back', async () => {
    await m.start(['hastack-shop-db1-redis']);
    await m.killAll(['hastack-shop-db1-redis']);
    assert.deepEqual(calls().slice(-3), [
      'start --no-block hastack-shop-db1-redis.service',
      'kill -s KILL --kill-who=all hastack-shop-db1-redis.service',
      'stop hastack-shop-db1-redis.service',
    ]);
  });

  it('status reads systemctl show', async () => {
    const [s] = await m.status(['hastack-shop-db1-redis']);
    assert.deepEqual(s, { name: 'hastack-shop-db1-redis', serviceId: 'db1/redis', active: true, pid: 4242, restarts: 3, since: '2026-11-29T15:00:00.000Z' });
  });

  it('a unit no longer wanted is disabled and stopped, its files removed, systemd reloaded', async () => {
    const unitDir = path.join(dir, 'units');
    fs.mkdirSync(unitDir);
    for (const f of ['hastack-shop-db1-memcached.service', 'hastack-shop-backup.timer', 'hastack-other-db1-redis.service', 'unrelated.service'])
      fs.writeFileSync(path.join(unitDir, f), '');
    const sm = new SystemdManager({ stateDir: '/s', specs: [], nodeBin: '/usr/bin/node', cliMain: '/opt/main.js', unitDir });
    const mine = sm.installedFiles('shop');
    assert.deepEqual(
      mine.map((f) => path.basename(f)),
      ['hastack-shop-backup.timer', 'hastack-shop-db1-memcached.service'],
    );
    await sm.remove(mine);
    assert.deepEqual(calls().slice(-2), ['disable --now hastack-shop-backup.timer hastack-shop-db1-memcached.service', 'daemon-reload']);
    assert.deepEqual(fs.readdirSync(unitDir).sort(), ['hastack-other-db1-redis.service', 'unrelated.service']);
  });

  it('an unknown unit name is refused with the list of units', async () => {
    await assert.rejects(m.start(['nope']), /no unit "nope".*hastack-shop-db1-redis/);
  });
});
