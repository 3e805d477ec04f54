import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GATE_REFUSED_EXIT, LIST_MARK, gateFileName, gateScript } from './backup-ssh-gate.js';

/*
 * The gate script run directly, as sshd would run it (`<gate> <root>` with SSH_ORIGINAL_COMMAND),
 * under dash (Debian's /bin/sh) and bash, with crafted requests; and real rsync through it, with
 * a stand-in for ssh that hands rsync's remote command to the gate the same way.
 */

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-gate-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const HOME = path.join(tmp, 'home');
const ROOT = path.join(tmp, 'disk', 'c1');
const OUTSIDE = path.join(tmp, 'outside');
const GATE = path.join(HOME, gateFileName('c1'));
const ID = '20261204T031200Z';
const SHELLS = ['dash', 'bash'].filter((s) => spawnSync('sh', ['-c', `command -v ${s}`]).status === 0);

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function gate(shell: string, request: string | undefined, o: { input?: string; root?: string; home?: string } = {}): Run {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: o.home ?? HOME, SSH_CLIENT: '192.0.2.9 40000 22' };
  if (request !== undefined) env['SSH_ORIGINAL_COMMAND'] = request;
  const r = spawnSync(shell, [GATE, o.root ?? ROOT], { env, input: o.input ?? '', encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function refused(r: Run, why: RegExp): void {
  assert.equal(r.code, GATE_REFUSED_EXIT, `exit ${r.code}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /hastack backup gate \(c1\): refused: /);
  assert.match(r.stderr, why);
}

before(() => {
  fs.mkdirSync(HOME, { recursive: true });
  fs.mkdirSync(OUTSIDE, { recursive: true });
  fs.writeFileSync(path.join(OUTSIDE, 'secret'), 'not for the backup key\n');
  fs.writeFileSync(GATE, gateScript('c1'), { mode: 0o755 });
});

for (const sh of SHELLS) {
  describe(`the backup gate under ${sh}: what it refuses`, () => {
    it('no command, a shell command, characters of a shell, a newline, scp and sftp', () => {
      refused(gate(sh, undefined), /no command \(an interactive shell\)/);
      refused(gate(sh, 'cat /etc/passwd'), /the request cat \/etc\/passwd/);
      refused(gate(sh, 'sh -c id'), /the request sh/);
      refused(gate(sh, `begin ${ROOT} ${ID};id`), /a character outside/);
      refused(gate(sh, `list ${ROOT} $(id)`), /a character outside/);
      refused(gate(sh, `list ${ROOT}\nid`), /a character outside/);
      refused(gate(sh, `list '${ROOT}'`), /a character outside/);
      refused(gate(sh, `scp -t ${ROOT}`), /the request scp/);
      refused(gate(sh, 'internal-sftp'), /the request internal-sftp/);
    });

    it('paths outside the root, with .. or ., and the root itself for remove', () => {
      refused(gate(sh, `rsync --server --sender -logDtprce.iLsfxCIvu . ${OUTSIDE}/`), /the path/);
      refused(gate(sh, `rsync --server --sender -logDtprce.iLsfxCIvu . ${ROOT}/../outside/`), /the path/);
      refused(gate(sh, `rsync --server -logDtprce.iLsfxCIvu . ${ROOT}/./x/`), /the path/);
      refused(gate(sh, `rsync --server -logDtprce.iLsfxCIvu . ${ROOT}x/`), /the path/);
      refused(gate(sh, `remove ${ROOT}`), /removing/);
      refused(gate(sh, `remove ${ROOT}/`), /removing/);
      refused(gate(sh, `remove ${OUTSIDE}`), /removing/);
      refused(gate(sh, `remove ${ROOT}/a/../../outside`), /removing/);
      refused(gate(sh, `put ${ROOT}/../outside/secret`), /put takes one file under the root/);
      refused(gate(sh, `mkdir ${ROOT}/..`), /mkdir takes/);
      refused(gate(sh, `begin ${OUTSIDE} ${ID}`), /begin takes the root/);
      refused(gate(sh, `begin ${ROOT} ../x`), /begin takes the root/);
      refused(gate(sh, `finish ${ROOT} ..`), /finish takes the root/);
      refused(gate(sh, `list ${OUTSIDE}`), /list takes the root/);
      refused(gate(sh, `drop-tails ${ROOT} ../x`), /the file name/);
    });

    it('rsync: only --server, the known options, one path; never -s, -L, -k, -K, -e', () => {
      const ok = '-logDtprce.iLsfxCIvu';
      refused(gate(sh, `rsync -av ${ROOT}/ ${OUTSIDE}/`), /rsync without --server/);
      refused(gate(sh, `rsync --server -slogDtprc . ${ROOT}/x/`), /the rsync flags -slogDtprc/);
      refused(gate(sh, `rsync --server --sender -Llogr . ${ROOT}/x/`), /the rsync flags/);
      refused(gate(sh, `rsync --server -logDtprk . ${ROOT}/x/`), /the rsync flags/);
      refused(gate(sh, `rsync --server -logDtprK . ${ROOT}/x/`), /the rsync flags/);
      refused(gate(sh, `rsync --server -e.sh . ${ROOT}/x/`), /the rsync option/);
      refused(gate(sh, `rsync --server ${ok} --rsh=sh . ${ROOT}/x/`), /the rsync option --rsh=sh/);
      refused(gate(sh, `rsync --server ${ok} --remove-source-files . ${ROOT}/x/`), /the rsync option --remove-source-files/);
      refused(gate(sh, `rsync --server ${ok} --partial-dir /tmp . ${ROOT}/x/`), /partial-dir other than/);
      refused(gate(sh, `rsync --server ${ok} --timeout=1x . ${ROOT}/x/`), /the rsync option --timeout=1x/);
      refused(gate(sh, `rsync --server ${ok} -B1024 . ${ROOT}/x/`), /the rsync option -B1024/);
      refused(gate(sh, `rsync --server --sender ${ok} . ${ROOT}/a/ ${ROOT}/b/`), /naming 2 paths/);
      refused(gate(sh, `rsync --server ${ok} ${ROOT}/x/`), /the rsync option \//);
    });

    it('a symbolic link under the root is never followed: not by a path, not by sums', () => {
      fs.mkdirSync(ROOT, { recursive: true });
      fs.rmSync(path.join(ROOT, 'link'), { force: true });
      fs.symlinkSync(OUTSIDE, path.join(ROOT, 'link'));
      refused(gate(sh, `rsync --server --sender -logDtprce.iLsfxCIvu . ${ROOT}/link/`), /a symbolic link/);
      refused(gate(sh, `put ${ROOT}/link/secret`), /put takes one file/);
      refused(gate(sh, `remove ${ROOT}/link/secret`), /removing/);
      refused(gate(sh, `sums ${ROOT}`, { input: 'link/secret\n' }), /the file link\/secret \(a symbolic link/);
      refused(gate(sh, `sums ${ROOT}`, { input: '../outside/secret\n' }), /the file name \.\.\/outside\/secret/);
      refused(gate(sh, `sums ${ROOT}`, { input: `${OUTSIDE}/secret\n` }), /the file name/);
      assert.ok(fs.existsSync(path.join(OUTSIDE, 'secret')));
      fs.rmSync(path.join(ROOT, 'link'));
    });

    it('a root that is no plain absolute path, or that holds the home directory, is refused', () => {
      refused(gate(sh, `list ${ROOT}`, { root: '' }), /no root directory/);
      refused(gate(sh, 'list /', { root: '/' }), /no root directory/);
      refused(gate(sh, `list ${ROOT}/../x`, { root: `${ROOT}/../x` }), /is not a plain absolute path/);
      refused(gate(sh, `list ${tmp}`, { root: tmp }), /the home directory .* is under the root/);
    });
  });

  describe(`the backup gate under ${sh}: what delivery, listing, retention and the archive run`, () => {
    it('begin, sums, finish, list, put, remove, drop-tails, mkdir', () => {
      fs.rmSync(ROOT, { recursive: true, force: true });
      let r = gate(sh, `begin ${ROOT} ${ID}`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fs.statSync(ROOT).mode & 0o777, 0o700);
      const incoming = path.join(ROOT, `.incoming-${ID}`);
      fs.mkdirSync(path.join(incoming, 'mariadb'), { recursive: true });
      fs.mkdirSync(path.join(incoming, '.rsync-partial'));
      fs.writeFileSync(path.join(incoming, 'mariadb', 'ibdata1'), 'data');
      fs.writeFileSync(path.join(incoming, 'manifest.json'), '{"id":"x"}');
      // The last name without its newline is read too.
      r = gate(sh, `sums ${incoming}`, { input: 'missing\nmariadb/ibdata1\nmanifest.json' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^[0-9a-f]{64} {2}mariadb\/ibdata1\n[0-9a-f]{64} {2}manifest\.json\n$/);
      r = gate(sh, `finish ${ROOT} ${ID}`);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(fs.existsSync(path.join(ROOT, ID, 'manifest.json')));
      assert.ok(!fs.existsSync(path.join(ROOT, ID, '.rsync-partial')));
      assert.equal(gate(sh, `begin ${ROOT} ${ID}`).code, 3, 'an id already there');
      r = gate(sh, `put ${ROOT}/${ID}/verify.json`, { input: '{"ok":true}' });
      assert.equal(r.code, 0, r.stderr);
      r = gate(sh, `list ${ROOT}`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `\n${LIST_MARK}${ID}\n{"id":"x"}\n@@hastack-verify\n{"ok":true}`);
      const seg = path.join(ROOT, 'binlog-archive', '000001-db1-s1');
      r = gate(sh, `mkdir ${seg}`);
      assert.equal(r.code, 0, r.stderr);
      for (const n of ['mysql-bin.000001.tail-000000000004.enc', 'mysql-bin.000001.tail-000000000100.enc', 'mysql-bin.000002.tail-000000000004.enc']) {
        fs.writeFileSync(path.join(seg, n), 'x');
      }
      r = gate(sh, `drop-tails ${seg} mysql-bin.000001`);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(fs.readdirSync(seg), ['mysql-bin.000002.tail-000000000004.enc']);
      r = gate(sh, `remove ${ROOT}/${ID} ${ROOT}/binlog-archive/000001-db1-s1 ${ROOT}/not-there`);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(fs.readdirSync(ROOT), ['binlog-archive']);
    });

    it('real rsync through it: a backup in, the same back out, the archive in; a symlink sent in does not work there', () => {
      fs.rmSync(ROOT, { recursive: true, force: true });
      const shim = path.join(tmp, `ssh-${sh}`);
      // What sshd does with a forced command: the client's words joined by blanks in SSH_ORIGINAL_COMMAND.
      fs.writeFileSync(shim, `#!/bin/sh\nwhile [ "$1" != host ]; do shift; done\nshift\nSSH_ORIGINAL_COMMAND="$*" HOME=${HOME} exec ${sh} ${GATE} ${ROOT}\n`, { mode: 0o755 });
      const src = path.join(tmp, 'staging');
      fs.rmSync(src, { recursive: true, force: true });
      fs.mkdirSync(path.join(src, 'mariadb'), { recursive: true });
      fs.writeFileSync(path.join(src, 'mariadb', 'ibdata1'), 'data');
      fs.symlinkSync(path.join(OUTSIDE, 'secret'), path.join(src, 'mariadb', 'evil'));
      fs.writeFileSync(path.join(src, 'mariadb', 'setuid'), '#!/bin/sh\n', { mode: 0o4755 });
      fs.chmodSync(path.join(src, 'mariadb', 'setuid'), 0o4755);
      fs.chmodSync(src, 0o755);
      const rsync = (...args: string[]): Run => {
        const r = spawnSync('rsync', ['-e', shim, ...args], { encoding: 'utf8' });
        return { code: r.status, stdout: r.stdout, stderr: r.stderr };
      };
      assert.equal(gate(sh, `begin ${ROOT} ${ID}`).code, 0);
      // A receiver takes no owner, group, mode or device of the sender's: -a is refused, -rlt (what delivery sends) goes.
      let r = rsync('-a', `${src}/`, `u@host:${ROOT}/.incoming-${ID}/`);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /refused: the rsync flags -\w*[ogpD]\w* for a receiver/);
      r = rsync('-rlt', '--checksum', '--delete', '--partial-dir=.rsync-partial', '--timeout=60', `${src}/`, `u@host:${ROOT}/.incoming-${ID}/`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fs.readFileSync(path.join(ROOT, `.incoming-${ID}`, 'mariadb', 'ibdata1'), 'utf8'), 'data');
      // --munge-links: the link arrives as one that points nowhere.
      assert.match(fs.readlinkSync(path.join(ROOT, `.incoming-${ID}`, 'mariadb', 'evil')), /^\/rsyncd-munged\//);
      // No mode of the sender's: no setuid bit, nothing for another local user (the sender's 04755 masked by the umask 077).
      assert.equal(fs.statSync(path.join(ROOT, `.incoming-${ID}`, 'mariadb', 'setuid')).mode & 0o7777, 0o700);
      assert.equal(fs.statSync(path.join(ROOT, `.incoming-${ID}`)).mode & 0o7777, 0o700);
      assert.equal(gate(sh, `finish ${ROOT} ${ID}`).code, 0);
      const back = path.join(tmp, 'fetched');
      fs.rmSync(back, { recursive: true, force: true });
      r = rsync('-rlt', '--checksum', '--delete', '--partial-dir=.rsync-partial', '--timeout=60', `u@host:${ROOT}/${ID}/`, `${back}/`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fs.readFileSync(path.join(back, 'mariadb', 'ibdata1'), 'utf8'), 'data');
      // The archive: two files into a segment directory that does not exist yet.
      const seg = `${ROOT}/binlog-archive/000001-db1-s1`;
      r = rsync('-rlt', path.join(src, 'mariadb', 'ibdata1'), `u@host:${seg}/`);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(fs.existsSync(path.join(seg, 'ibdata1')));
      // Out of the root: refused before rsync runs.
      r = rsync('-rlt', `${src}/`, `u@host:${OUTSIDE}/`);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /refused: the path/);
      r = rsync('-rlt', `u@host:${OUTSIDE}/`, path.join(tmp, 'stolen'));
      assert.notEqual(r.code, 0);
      assert.ok(!fs.existsSync(path.join(tmp, 'stolen', 'secret')));
    });
  });
}
