import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig, resolveTopology } from '../config/index.js';
import { ErrorCode } from '../shared/errors.js';
import { writeAutoMode } from '../failover/index.js';
import { hostsRefusal, primaryStopRefusal } from './svcctl.js';

const topo = (substrate: 'local' | 'hosts') =>
  resolveTopology(
    parseConfig({
      cluster: 'svcctl',
      redis: { quorum: 1 },
      substrate,
      nodes: [{ name: 'n1', services: ['app', 'lb', 'mariadb', 'redis'], ...(substrate === 'hosts' ? { address: '10.0.0.1', ssh: 'root@10.0.0.1' } : {}) }],
    }),
    { stateRoot: '/nonexistent/hastack-state', configDir: '/nonexistent' },
  );

describe('stop|start|restart|drain on hosts', () => {
  it('the supervisor here does it on local', () => {
    assert.equal(hostsRefusal(topo('local'), 'stop', topo('local').services), undefined);
  });
  it('on hosts: refused with exit 2 (USAGE), naming the systemctl line per unit', () => {
    const t = topo('hosts');
    const mariadb = t.services.filter((s) => s.kind === 'mariadb');
    const e = hostsRefusal(t, 'restart', mariadb);
    assert.equal(e?.code, ErrorCode.USAGE);
    assert.match(e?.message ?? '', /ssh 10\.0\.0\.1 sudo systemctl restart hastack-svcctl-n1-mariadb/);
    const app = t.services.filter((s) => s.kind === 'app');
    assert.match(hostsRefusal(t, 'drain', app)?.message ?? '', /systemctl stop hastack-svcctl-n1-app/);
  });
});

describe('stop|restart of the primary database with failover.auto on', () => {
  it('refused without --force (switchover or pause named); a replica, start, --force, a paused mode: allowed', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'svcctl-'));
    try {
      const t = resolveTopology(
        parseConfig({
          cluster: 'svcctl',
          redis: { quorum: 1 },
          failover: { auto: true },
          nodes: [
            { name: 'n1', services: ['app', 'lb', 'mariadb', 'redis'] },
            { name: 'n2', services: ['app', 'lb', 'mariadb', 'redis'] },
          ],
        }),
        { stateRoot: root, configDir: root },
      );
      const [db1, db2] = t.services.filter((s) => s.kind === 'mariadb');
      assert.ok(db1 && db2);
      // <svc.dir>/hastack-db.json, as the mariadb engine records each node's role.
      for (const [svc, role] of [
        [db1, 'primary'],
        [db2, 'replica'],
      ] as const) {
        fs.mkdirSync(svc.dir, { recursive: true });
        fs.writeFileSync(path.join(svc.dir, 'hastack-db.json'), JSON.stringify({ role, wired: true }));
      }
      const e = primaryStopRefusal(t, 'stop', [db1], false);
      assert.equal(e?.code, ErrorCode.USAGE);
      assert.match(
        e?.message ?? '',
        /n1\/mariadb is the primary database and failover\.auto is on: stopping it starts an automatic failover.*hastack switchover.*hastack pause.*--force/,
      );
      assert.match(primaryStopRefusal(t, 'restart', t.services, false)?.message ?? '', /restarting it/);
      assert.equal(primaryStopRefusal(t, 'stop', [db2], false), undefined);
      assert.equal(primaryStopRefusal(t, 'start', [db1], false), undefined);
      assert.equal(primaryStopRefusal(t, 'stop', [db1], true), undefined);
      writeAutoMode(t.stateDir, { state: 'paused', why: 'maintenance', by: 'operator' });
      assert.equal(primaryStopRefusal(t, 'stop', [db1], false), undefined);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
