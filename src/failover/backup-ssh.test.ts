import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Topology } from '../config/index.js';
import { ErrorCode } from '../shared/errors.js';
import type { BackupManifest } from './backup-manifest.js';
import { compareSums } from './backup-ssh-store.js';
import { knownHostsName, sshConn, sshTargetError } from './backup-ssh.js';
import { parseEndpoint, type BackupTarget } from './backup-targets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-ssh-target-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
// Only what the SSH options read: the state directory.
const topo = { stateDir: tmp, cluster: 'c' } as unknown as Topology;
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLE';

function target(ssh: string, extra: { hostKey?: string; knownHostsFile?: string } = {}): BackupTarget {
  return { name: 'offsite', kind: 'ssh', root: '/srv/b/c', keep: 3, ssh: { ...parseEndpoint(ssh), ...extra } };
}

describe('SSH backup targets: the endpoint and the ssh options', () => {
  it('parses user@host[:port], an IPv6 address in brackets', () => {
    assert.deepEqual(parseEndpoint('backup@vault.example'), { user: 'backup', host: 'vault.example', port: 22 });
    assert.deepEqual(parseEndpoint('root@192.0.2.7:2222'), { user: 'root', host: '192.0.2.7', port: 2222 });
    assert.deepEqual(parseEndpoint('b@[2001:db8::7]:22'), { user: 'b', host: '2001:db8::7', port: 22 });
    assert.equal(knownHostsName({ host: '192.0.2.7', port: 2222 }), '[192.0.2.7]:2222');
    assert.equal(knownHostsName({ host: '192.0.2.7', port: 22 }), '192.0.2.7');
  });

  it('a hostKey becomes the only key accepted: its own known_hosts (0600), the global one ignored, strict, batch', () => {
    const c = sshConn(topo, target('root@192.0.2.7:2222', { hostKey: HOST_KEY }));
    const text = c.ssh.join(' ');
    for (const o of ['BatchMode=yes', 'StrictHostKeyChecking=yes', 'IdentitiesOnly=yes', 'GlobalKnownHostsFile=/dev/null', 'ConnectTimeout=10']) assert.ok(text.includes(o), o);
    assert.ok(!/accept-new|StrictHostKeyChecking=no/.test(text));
    assert.equal(fs.readFileSync(c.knownHosts, 'utf8'), `[192.0.2.7]:2222 ${HOST_KEY}\n`);
    assert.equal(fs.statSync(c.knownHosts).mode & 0o777, 0o600);
    assert.equal(c.destination, 'root@192.0.2.7');
    assert.deepEqual(c.ssh.slice(-2), ['-p', '2222']);
  });

  it("without hostKey: the operator's known_hosts file, or ssh's default; never learned on first use", () => {
    const c = sshConn(topo, target('root@vault', { knownHostsFile: '/etc/hastack/known_hosts' }));
    assert.ok(c.ssh.includes('UserKnownHostsFile=/etc/hastack/known_hosts'));
    const d = sshConn(topo, target('root@vault'));
    assert.equal(d.knownHosts, '~/.ssh/known_hosts');
    assert.ok(!d.ssh.some((x) => x.startsWith('UserKnownHostsFile')));
  });

  it("ssh's own failures become typed errors that say what to do", () => {
    const c = sshConn(topo, target('root@192.0.2.7:2222', { hostKey: HOST_KEY }));
    const cases: Array<[string, ErrorCode, RegExp]> = [
      ['ssh: connect to host 192.0.2.7 port 2222: Connection refused', ErrorCode.HOST_UNREACHABLE, /unreachable .*sshd listens on 192\.0\.2\.7 port 2222/],
      ['Host key verification failed.', ErrorCode.HOST_KEY_UNKNOWN, /never accepts a new host key by itself/],
      ['@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.', ErrorCode.HOST_KEY_CHANGED, /find out which/],
      ['root@192.0.2.7: Permission denied (publickey).', ErrorCode.HOST_AUTH_FAILED, /backup_ed25519\.pub\) for user root: run "hastack backup authorize"/],
    ];
    for (const [stderr, code, says] of cases) {
      const e = sshTargetError(c, stderr);
      assert.equal(e?.code, code, stderr);
      assert.match(e?.message ?? '', says);
    }
    assert.equal(sshTargetError(c, 'sha256sum: x: No such file'), undefined);
  });
});

describe('SSH backup targets: the check there', () => {
  const m = {
    files: [
      { path: 'mariadb/ibdata1.enc', size: 3, sha256: 'a'.repeat(64) },
      { path: 'redis/dump.rdb.enc', size: 3, sha256: 'b'.repeat(64) },
      { path: 'mariadb/app/t.ibd.enc', size: 3, sha256: 'c'.repeat(64) },
    ],
  } as unknown as BackupManifest;

  it("compares sha256sum's output with the manifest: missing and changed files named", () => {
    const out = `${'a'.repeat(64)}  mariadb/ibdata1.enc\n${'d'.repeat(64)}  redis/dump.rdb.enc\n`;
    assert.deepEqual(compareSums(m, out), ['redis/dump.rdb.enc differs from the manifest (sha256)', 'mariadb/app/t.ibd.enc is missing']);
    const all = `${'a'.repeat(64)}  mariadb/ibdata1.enc\n${'b'.repeat(64)} *redis/dump.rdb.enc\n${'c'.repeat(64)}  mariadb/app/t.ibd.enc\n`;
    assert.deepEqual(compareSums(m, all), []);
  });
});
