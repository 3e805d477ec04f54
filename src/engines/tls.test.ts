import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { hostStateDir, tlsDir, parseConfig, resolveTopology, type ConfigInput } from '../config/index.js';
import { databaseTlsOn, ensureClusterTls, nodeTlsFiles, readNodeTls } from './tls.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-tls-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function topoOf(extra: Partial<ConfigInput>) {
  return resolveTopology(
    parseConfig({
      cluster: 'tlsunit',
      addressBase: '127.0.207',
      database: { mode: 'galera' },
      nodes: [
        { name: 'web', services: ['app', 'lb', 'redis'] },
        { name: 'db1', services: ['mariadb'] },
        { name: 'db2', services: ['mariadb'] },
        { name: 'db3', services: ['mariadb'] },
      ],
      ...extra,
    }),
    { stateRoot: root, configDir: root },
  );
}

describe('database TLS', () => {
  it('is on by default only on hosts', () => {
    assert.equal(databaseTlsOn(topoOf({})), false);
    assert.equal(databaseTlsOn(topoOf({ database: { mode: 'galera', tls: 'on' } })), true);
    const hosts = (tls?: 'off') =>
      resolveTopology(
        parseConfig({
          cluster: 'h',
          substrate: 'hosts',
          database: { mode: 'galera', ...(tls ? { tls } : {}) },
          nodes: [1, 2, 3].map((i) => ({
            name: `n${i}`,
            address: `10.0.0.${i}`,
            ssh: `root@10.0.0.${i}`,
            services: i === 1 ? ['app' as const, 'lb' as const, 'redis' as const, 'mariadb' as const] : ['mariadb' as const],
          })),
        }),
        { stateRoot: root, configDir: root },
      );
    assert.equal(databaseTlsOn(hosts()), true);
    // On hosts, a node's files are named where they are on the node, not in the operator's state.
    assert.equal(nodeTlsFiles(hosts(), 'n2').key, path.join(hostStateDir(hosts().config), 'tls', 'n2.key'));
    assert.ok(!nodeTlsFiles(hosts(), 'n2').key.startsWith(root));
    assert.equal(databaseTlsOn(hosts('off')), false);
  });

  it('makes a per-cluster CA and a certificate per database node, keys 0600 in a 0700 directory', () => {
    const topo = topoOf({ database: { mode: 'galera', tls: 'on' } });
    ensureClusterTls(topo);
    const dir = tlsDir(topo.stateDir);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(dir, 'ca.key')).mode & 0o777, 0o600);
    for (const node of ['db1', 'db2', 'db3']) {
      const f = nodeTlsFiles(topo, node);
      assert.equal(fs.statSync(f.key).mode & 0o777, 0o600, `${node}.key`);
      assert.match(execFileSync('openssl', ['verify', '-CAfile', f.ca, f.cert], { encoding: 'utf8' }), /: OK/);
      const addr = topo.services.find((s) => s.node === node && s.kind === 'mariadb')?.address ?? '';
      assert.match(
        execFileSync('openssl', ['x509', '-in', f.cert, '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' }),
        new RegExp(`IP Address:${addr.replace(/\./g, '\\.')}`),
      );
    }
    assert.ok(!fs.existsSync(nodeTlsFiles(topo, 'web').cert), 'no certificate for a node without a database');
    // Idempotent: a second run keeps the CA and the keys.
    const before = readNodeTls(topo, 'db2');
    ensureClusterTls(topo);
    assert.deepEqual(readNodeTls(topo, 'db2'), before);
    // Nothing but the files themselves: no CSR or extension file left behind.
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => !/^(ca\.(crt|key|srl)|db\d\.(crt|key))$/.test(f)),
      [],
    );
  });

  it('makes nothing when TLS is off', () => {
    const topo = resolveTopology(parseConfig({ cluster: 'tlsoff', addressBase: '127.0.207', nodes: [{ name: 'a', services: ['app', 'lb', 'redis', 'mariadb'] }] }), {
      stateRoot: root,
      configDir: root,
    });
    ensureClusterTls(topo);
    assert.ok(!fs.existsSync(tlsDir(topo.stateDir)));
  });
});
