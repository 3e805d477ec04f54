import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkAdminProbe,
  checkBinds,
  checkControllerKey,
  checkDbAccounts,
  checkFileModes,
  checkSecretsHeld,
  checkStores,
  checkUsers,
  keyOptions,
  type AuditScope,
} from './checks.js';
import type { FileFact } from './facts.js';
import { auditExitCode, formatFindings } from './findings.js';
import { holdsSecret, isSecretName } from './files.js';
import { decodeProcAddress, parseProcNetTcp } from './proc.js';

const scope = (substrate: AuditScope['substrate'] = 'local'): AuditScope => ({
  cluster: 'c',
  substrate,
  nodesAreMachines: substrate === 'hosts',
  nodes: new Map([
    ['db1', '127.0.10.13'],
    ['cache1', '127.0.10.8'],
  ]),
  services: new Map([
    ['db1/mariadb', 'db1'],
    ['cache1/memcached', 'cache1'],
  ]),
  admin: { address: '127.0.10.254', port: 9090 },
});
const file = (f: Partial<FileFact> & { path: string }): FileFact => ({
  mode: 0o600,
  uid: 1000,
  parentUid: 1000,
  dir: false,
  secretFile: false,
  holdsSecret: false,
  othersReach: true,
  ...f,
});

describe('audit: /proc parsing', () => {
  it('decodes IPv4, IPv6, wildcards and v4-mapped addresses', () => {
    assert.equal(decodeProcAddress('0D0A007F'), '127.0.10.13');
    assert.equal(decodeProcAddress('00000000'), '0.0.0.0');
    assert.equal(decodeProcAddress('00000000000000000000000000000000'), '::');
    assert.equal(decodeProcAddress('00000000000000000000000001000000'), '::1');
    assert.equal(decodeProcAddress('0000000000000000FFFF00000D0A007F'), '127.0.10.13');
  });

  it('keeps only listening sockets, with port and inode', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0D0A007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0',
      '   1: 0D0A007F:0CEA 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 100 0 0 10 0',
    ].join('\n');
    assert.deepEqual(parseProcNetTcp(text), [{ address: '127.0.10.13', port: 3306, inode: 4242 }]);
  });
});

describe('audit: checks', () => {
  it('(a) binds: the node address passes; a wildcard and a foreign address are findings; the admin API on loopback passes', () => {
    const f = checkBinds(scope(), [
      { owner: 'db1/mariadb', pid: 1, address: '127.0.10.13', port: 3306 },
      { owner: 'db1/mariadb', pid: 1, address: '0.0.0.0', port: 4567 },
      { owner: 'cache1/memcached', pid: 2, address: '127.0.10.13', port: 11211 },
      { owner: 'admin', pid: 3, address: '127.0.10.254', port: 9090 },
    ]);
    assert.deepEqual(
      f.map((x) => `${x.code} ${x.where}`),
      ['BIND_WILDCARD db1/mariadb', 'BIND_FOREIGN cache1/memcached'],
    );
    const hosts = { ...scope('hosts'), admin: { address: '127.0.0.1', port: 9090 } };
    assert.deepEqual(
      checkBinds(hosts, [{ owner: 'admin', pid: 3, address: '10.0.0.5', port: 9090 }]).map((x) => x.code),
      ['ADMIN_BIND'],
    );
    assert.deepEqual(
      checkBinds(hosts, [{ owner: 'admin', pid: 3, address: '::', port: 9090 }]).map((x) => x.code),
      ['ADMIN_BIND'],
    );
  });

  it('(b) users: root is a finding on hosts only; on local it is an info line', () => {
    const procs = [{ owner: 'db1/mariadb', pid: 1, uid: 0 }];
    assert.deepEqual(
      checkUsers(scope('hosts'), procs, 'db1').map((x) => x.code),
      ['RUNS_AS_ROOT'],
    );
    const local = checkUsers(scope('local'), procs, 'this machine');
    assert.equal(auditExitCode(local), 0);
    assert.match(local[0]?.message ?? '', /invoking user/);
  });

  it('(c) file modes: a 0644 secret, a foreign owner, a reachable world-readable password and a world-writable dir are findings', () => {
    const f = checkFileModes(
      [
        file({ path: '/s/secrets.json', secretFile: true, mode: 0o644 }),
        file({ path: '/s/admin-token', secretFile: true, uid: 4242 }),
        file({ path: '/s/app/redis.conf', holdsSecret: true, mode: 0o644 }),
        file({ path: '/s/private/redis.conf', holdsSecret: true, mode: 0o644, othersReach: false }),
        file({ path: '/s/x', dir: true, mode: 0o777 }),
        file({ path: '/s/ok.json', secretFile: true }),
        file({ path: '/s/svc/key.pem', secretFile: true, uid: 999, parentUid: 999 }),
      ],
      1000,
    );
    assert.deepEqual(
      f.filter((x) => x.severity === 'finding').map((x) => `${x.code} ${x.where}`),
      ['SECRET_FILE_MODE /s/secrets.json', 'SECRET_FILE_OWNER /s/admin-token', 'SECRET_WORLD_READABLE /s/app/redis.conf', 'DIR_WORLD_WRITABLE /s/x'],
    );
    assert.equal(f.filter((x) => x.severity === 'info').length, 1, 'a password behind a private directory is an info line');
  });

  it('(d) the controller key needs restrict, command= and from=', () => {
    assert.deepEqual(keyOptions('restrict,command="/opt/x _agent \\"a,b\\"",from="10.0.0.1" ssh-ed25519 AAAA c'), [
      'restrict',
      'command="/opt/x _agent \\"a,b\\""',
      'from="10.0.0.1"',
    ]);
    assert.deepEqual(keyOptions('ssh-ed25519 AAAA hastack-c-controller'), []);
    assert.equal(checkControllerKey('n1', ['restrict,command="x",from="10.0.0.1" ssh-ed25519 AAAA hastack-c-controller']).length, 0);
    const f = checkControllerKey('n1', ['ssh-ed25519 AAAA hastack-c-controller']);
    assert.equal(f[0]?.code, 'KEY_UNRESTRICTED');
    assert.match(f[0]?.message ?? '', /restrict, command=, from=/);
  });

  it('(e) the admin API: refusals pass; an open API is ADMIN_NO_TOKEN and ADMIN_CROSS_ORIGIN; no answer is incomplete', () => {
    const good = { url: 'u', noToken: 401, crossOrigin: 403, crossOriginRead: 403, foreignHost: 403 };
    assert.deepEqual(checkAdminProbe(good), []);
    const open = checkAdminProbe({ url: 'u', noToken: 400, crossOrigin: 400, crossOriginRead: 200, foreignHost: 200 });
    assert.deepEqual([...new Set(open.map((x) => x.code))], ['ADMIN_NO_TOKEN', 'ADMIN_CROSS_ORIGIN']);
    assert.equal(checkAdminProbe({ ...good, error: 'ECONNREFUSED' })[0]?.code, 'AUDIT_INCOMPLETE');
  });

  it('(f) stores: PONG without a password, a passwordless login, and memcached answering an outsider on hosts', () => {
    const probes = [
      { service: 'r/redis', kind: 'redis' as const, answer: '+PONG' },
      { service: 'r/redis2', kind: 'redis' as const, answer: '-NOAUTH Authentication required.' },
      { service: 'db1/mariadb', kind: 'mariadb' as const, answer: 'login ok' },
      { service: 'cache1/memcached', kind: 'memcached' as const, answer: 'VERSION 1.6.18' },
    ];
    assert.deepEqual(
      checkStores(scope('hosts'), probes, false).map((x) => x.code),
      ['REDIS_NO_AUTH', 'REDIS_REACHABLE', 'REDIS_REACHABLE', 'DB_NO_AUTH', 'MEMCACHED_REACHABLE'],
    );
    assert.deepEqual(
      checkStores(scope('hosts'), probes, true).map((x) => x.code),
      ['REDIS_NO_AUTH', 'DB_NO_AUTH'],
      'a cluster node may reach memcached',
    );
    assert.deepEqual(
      checkStores(scope('local'), probes.slice(3), false).map((x) => x.severity),
      ['info'],
    );
  });

  it('review item 7: Redis or Sentinel answering an outsider on hosts is REDIS_REACHABLE; no answer (firewalled) passes', () => {
    const closed = [
      { service: 'r/redis', kind: 'redis' as const },
      { service: 'r/sentinel', kind: 'sentinel' as const },
    ];
    assert.deepEqual(checkStores(scope('hosts'), closed, false), []);
    const open = [{ service: 'r/sentinel', kind: 'sentinel' as const, answer: '-NOAUTH Authentication required.' }];
    assert.deepEqual(
      checkStores(scope('hosts'), open, false).map((x) => `${x.code} ${x.where}`),
      ['REDIS_REACHABLE r/sentinel'],
    );
    assert.deepEqual(checkStores(scope('local'), open, false), [], 'on local every client is this machine');
  });

  it("(g) database accounts: a wildcard or foreign host is a finding; hastack's own '%' accounts are info", () => {
    const s = { ...scope('hosts'), dbAllowedHosts: ['localhost', '127.0.0.1', '::1', '10.0.0.1', '10.0.0.2', '10.0.0.254'], dbWildcardByDesign: ['hastack', 'repl'] };
    const f = checkDbAccounts(
      s,
      [
        { user: 'root', host: 'localhost' },
        { user: 'hastack_admin', host: '10.0.0.254' },
        { user: 'hastack', host: '%' },
        { user: 'repl', host: '%' },
        { user: 'bob', host: '%' },
        { user: 'root', host: '10.0.%' },
        { user: 'carol', host: '10.0.0.0/255.255.255.0' },
        { user: 'hastack_admin', host: '192.168.1.9' },
        { user: 'hastack', host: '10.%' },
        { user: '', host: '' },
      ],
      'mariadb',
    );
    assert.deepEqual(
      f.filter((x) => x.severity === 'finding').map((x) => `${x.code} ${x.message.match(/'[^']*'@'[^']*'/)?.[0] ?? ''}`),
      [
        "DB_ACCOUNT_WILDCARD 'bob'@'%'",
        "DB_ACCOUNT_WILDCARD 'root'@'10.0.%'",
        "DB_ACCOUNT_WILDCARD 'carol'@'10.0.0.0/255.255.255.0'",
        "DB_ACCOUNT_FOREIGN_HOST 'hastack_admin'@'192.168.1.9'",
        "DB_ACCOUNT_WILDCARD 'hastack'@'10.%'",
      ],
    );
    assert.equal(f.filter((x) => x.severity === 'info').length, 2);
    assert.deepEqual(checkDbAccounts(scope('local'), [{ user: 'bob', host: '%' }], 'mariadb'), [], 'no allowed hosts in scope: not judged');
  });

  it('(h) secrets held: one its services do not need is SECRET_NOT_NEEDED, naming it (never its value)', () => {
    assert.deepEqual(checkSecretsHeld('lb1', [], []), []);
    assert.deepEqual(checkSecretsHeld('db1', ['dbRootPassword', 'dbAppPassword'], ['dbRootPassword', 'dbAppPassword', 'dbReplPassword']), []);
    const f = checkSecretsHeld('lb1', ['vrrpPassword', 'dbRootPassword'], ['vrrpPassword']);
    assert.equal(f[0]?.code, 'SECRET_NOT_NEEDED');
    assert.match(f[0]?.message ?? '', /holds dbRootPassword, which none of its services needs \(it needs vrrpPassword\)/);
  });

  it('findings print code, where and fix, and fail the audit; info alone does not', () => {
    const f = checkFileModes([file({ path: '/s/secrets.json', secretFile: true, mode: 0o640 })], 1000);
    assert.equal(auditExitCode(f), 1);
    const lines = formatFindings(f);
    assert.match(lines[0] ?? '', /^FINDING SECRET_FILE_MODE \/s\/secrets\.json: a secret with mode 0640/);
    assert.match(lines[1] ?? '', /fix: chmod 600 \/s\/secrets\.json/);
    assert.equal(lines.at(-1), 'audit: 1 finding(s)');
  });

  it('secret names and contents', () => {
    assert.ok(isSecretName('secrets.json') && isSecretName('admin-token') && isSecretName('id_ed25519') && isSecretName('tls.key'));
    assert.ok(!isSecretName('topology.json'));
    assert.ok(holdsSecret('requirepass abcdefghijklmnopqrstuvwx\n', ['abcdefghijklmnopqrstuvwx']));
    assert.ok(!holdsSecret('x short', ['short']), 'too short to be one of ours');
  });
});
