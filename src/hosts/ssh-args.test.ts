import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { HostError, classifySshFailure, commandFailedError, formatTarget, knownHostsName, parseSshTarget, shq, sshArgs, sshFailureError } from './ssh-args.js';

// What OpenSSH 9.2 prints for each failure (copied from real runs against the test bed).
const REFUSED = 'ssh: connect to host 10.213.80.2 port 22: Connection refused\r\n';
const TIMED_OUT = 'ssh: connect to host 10.9.9.9 port 22: Connection timed out\r\n';
const UNKNOWN_KEY = 'No ED25519 host key is known for 10.213.80.1 and you have requested strict checking.\r\nHost key verification failed.\r\n';
const CHANGED_KEY = [
  '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
  '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
  '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
  'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
  'Host key for 10.213.80.1 has changed and you have requested strict checking.',
  'Host key verification failed.',
].join('\r\n');
const AUTH = 'root@10.213.80.1: Permission denied (publickey).\r\n';

const primary = parseSshTarget('primary', 'root@10.213.80.1:22');

describe('parseSshTarget', () => {
  it('reads user, host and port, with root and 22 as defaults', () => {
    assert.deepEqual(parseSshTarget('db1', 'deploy@10.0.0.5:2222'), { node: 'db1', user: 'deploy', host: '10.0.0.5', port: 2222 });
    assert.deepEqual(parseSshTarget('db1', 'db1.example.org'), { node: 'db1', user: 'root', host: 'db1.example.org', port: 22 });
    assert.deepEqual(parseSshTarget('db1', 'admin@[fd00::5]:2200'), { node: 'db1', user: 'admin', host: 'fd00::5', port: 2200 });
  });

  it('refuses a bad port, an empty host and a host that ssh would read as an option, naming the node', () => {
    for (const spec of ['root@h:0', 'root@h:70000', 'root@h:x', 'root@', '', 'root@-oProxyCommand=x', 'ro ot@h']) {
      assert.throws(
        () => parseSshTarget('db1', spec),
        (e: unknown) => e instanceof HastackError && e.code === ErrorCode.CONFIG_INVALID && e.message.includes('nodes.db1.ssh'),
        spec,
      );
    }
  });

  it('formats back for messages and known_hosts', () => {
    assert.equal(formatTarget(primary), 'root@10.213.80.1:22');
    assert.equal(knownHostsName(primary), '10.213.80.1');
    assert.equal(knownHostsName(parseSshTarget('x', 'root@h:2222')), '[h]:2222');
  });
});

describe('shq', () => {
  it('leaves plain words alone and quotes everything else so the shell gives back the same bytes', () => {
    assert.equal(shq('/var/lib/hastack/simple'), '/var/lib/hastack/simple');
    const nasty = [`it's`, 'a b', '$(rm -rf /)', '`x`', 'semi;colon', "''", '', 'new\nline', '*', '-n'];
    for (const s of nasty) {
      const back = execFileSync('sh', ['-c', `printf %s ${shq(s)}`], { encoding: 'utf8' });
      assert.equal(back, s);
    }
  });
});

describe('sshArgs', () => {
  it('never prompts, verifies host keys, shares one connection and ends with -- host command', () => {
    const args = sshArgs(primary, { identityFile: '/k/id', knownHostsFile: '/k/known', connectTimeoutMs: 2500 }, '/tmp/hs-ssh-abc', 'hostname');
    const opts = args.flatMap((a, i) => (args[i - 1] === '-o' ? [a] : []));
    for (const o of [
      'BatchMode=yes',
      'StrictHostKeyChecking=yes',
      'UserKnownHostsFile=/k/known',
      'IdentitiesOnly=yes',
      'ConnectTimeout=3',
      'ServerAliveInterval=5',
      'ServerAliveCountMax=3',
      'ControlMaster=auto',
      'ControlPath=/tmp/hs-ssh-abc/%C',
      'ControlPersist=60',
    ]) {
      assert.ok(opts.includes(o), o);
    }
    assert.equal(args[args.indexOf('-i') + 1], '/k/id');
    assert.deepEqual(args.slice(-7), ['-p', '22', '-l', 'root', '--', '10.213.80.1', 'hostname']);
  });

  it("leaves the key and known_hosts to ssh's defaults when not given", () => {
    const args = sshArgs(primary, {}, '/tmp/c', 'true');
    assert.ok(!args.includes('-i'));
    assert.ok(!args.some((a) => a.startsWith('UserKnownHostsFile') || a.startsWith('IdentitiesOnly')));
    assert.ok(args.includes('ConnectTimeout=10'));
  });
});

describe('classifySshFailure', () => {
  it('tells the four failures apart', () => {
    assert.equal(classifySshFailure(REFUSED), 'unreachable');
    assert.equal(classifySshFailure(TIMED_OUT), 'unreachable');
    assert.equal(classifySshFailure('ssh: Could not resolve hostname db9: Name or service not known'), 'unreachable');
    assert.equal(classifySshFailure('Timeout, server 10.0.0.5 not responding.'), 'unreachable');
    assert.equal(classifySshFailure(UNKNOWN_KEY), 'key-unknown');
    assert.equal(classifySshFailure(CHANGED_KEY), 'key-changed');
    assert.equal(classifySshFailure(AUTH), 'auth');
  });

  it("is undefined for a remote command's own output (then 255 was its exit status)", () => {
    assert.equal(classifySshFailure(''), undefined);
    assert.equal(classifySshFailure('mariadb: unknown option --x\n'), undefined);
  });
});

describe('host errors', () => {
  const opts = { identityFile: '/k/id', knownHostsFile: '/k/known' };

  it('an unknown key names the node, the target and the ssh-keyscan line that fixes it', () => {
    const e = sshFailureError('key-unknown', primary, opts, UNKNOWN_KEY);
    assert.ok(e instanceof HostError);
    assert.equal(e.code, ErrorCode.HOST_KEY_UNKNOWN);
    assert.equal(e.node, 'primary');
    assert.equal(e.message, 'host primary (root@10.213.80.1:22): its host key is not in /k/known: verify it, then run ssh-keyscan -p 22 10.213.80.1 >> /k/known');
  });

  it('a changed key says to find out why before replacing it', () => {
    const e = sshFailureError('key-changed', parseSshTarget('db2', 'root@10.0.0.2:2222'), opts, CHANGED_KEY);
    assert.equal(e.code, ErrorCode.HOST_KEY_CHANGED);
    assert.match(e.message, /ssh-keygen -R '\[10\.0\.0\.2\]:2222' -f \/k\/known/);
  });

  it('unreachable and auth failures carry what ssh said and the fix', () => {
    const u = sshFailureError('unreachable', primary, opts, REFUSED);
    assert.equal(u.code, ErrorCode.HOST_UNREACHABLE);
    assert.match(u.message, /^host primary \(root@10\.213\.80\.1:22\) is unreachable .*Connection refused.*sshd listens on 10\.213\.80\.1 port 22/);
    const a = sshFailureError('auth', primary, opts, AUTH);
    assert.equal(a.code, ErrorCode.HOST_AUTH_FAILED);
    assert.match(a.message, /ssh-copy-id -i \/k\/id\.pub -p 22 root@10\.213\.80\.1/);
  });

  it('a failed command shows the tail of its stderr, not all of it', () => {
    const stderr = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
    const e = commandFailedError(primary, 'false', 3, stderr);
    assert.equal(e.code, ErrorCode.HOST_COMMAND_FAILED);
    assert.match(e.message, /`false` exited with status 3/);
    assert.match(e.message, /line 49$/);
    assert.doesNotMatch(e.message, /line 10\n/);
  });
});
