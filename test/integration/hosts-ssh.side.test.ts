/**
 * The SSH transport of `substrate: hosts` against real sshds: a bed of three namespace hosts
 * (test/helpers/hostbed.ts), each with its own address and its own disk for what hastack writes.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { HostError, SshHost, parseSshTarget, tarDirectory, type SshOptions } from '../../src/hosts/index.js';
import { ErrorCode } from '../../src/shared/errors.js';
import { pidAlive, tempDir } from '../helpers/cli.js';
import { HOST_PRIVATE_PATHS, startHostBed, type HostBed } from '../helpers/hostbed.js';
import { testRange } from '../../kit/addresses.js';
import { waitFor } from '../../src/shared/retry.js';

const ADDRESS_BASE = testRange('hosts-ssh').privateBase ?? '';
/** Short: the unreachable cases wait this long at most. */
const CONNECT_TIMEOUT_MS = 3_000;

describe('ssh transport on a namespace host bed', () => {
  let bed: HostBed;
  let work: string;
  const opened: SshHost[] = [];
  /** Mountpoint dirs the real fs lacked before the bed: teardown must remove them again. */
  const missingBefore = HOST_PRIVATE_PATHS.filter((p) => !fs.existsSync(p));

  const hostOf = (name: string, extra: Partial<SshOptions> = {}): SshHost => {
    const h = bed.hosts.find((x) => x.name === name);
    assert.ok(h, name);
    const s = new SshHost(parseSshTarget(name, h.sshTarget), {
      identityFile: bed.identityFile,
      knownHostsFile: bed.knownHostsFile,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      controlDir: fs.mkdtempSync(path.join(work, 'c')),
      ...extra,
    });
    opened.push(s);
    return s;
  };

  before(async () => {
    work = tempDir('hosts-ssh');
    const t0 = Date.now();
    bed = await startHostBed({ hosts: ['primary', 'standby', 'ops'], addressBase: ADDRESS_BASE });
    console.log(`# figure: bed of 3 hosts started in ${Date.now() - t0} ms`);
  });

  after(async () => {
    for (const s of opened) await s.close();
    await bed?.teardown();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('each host answers with its own address and its own private mounts; later commands reuse the connection', async () => {
    for (const h of bed.hosts) {
      const ssh = hostOf(h.name);
      const t0 = Date.now();
      const out = await ssh.run('hostname -I; cat /proc/self/mountinfo | grep hastack');
      const first = Date.now() - t0;
      const t1 = Date.now();
      for (let i = 0; i < 5; i++) assert.equal((await ssh.run('echo ok')).trim(), 'ok');
      console.log(`# figure: ${h.name}: first ssh command ${first} ms, later ones ${Math.round((Date.now() - t1) / 5)} ms each`);
      assert.deepEqual(out.split('\n')[0]?.trim().split(/\s+/), [h.address]);
      for (const p of HOST_PRIVATE_PATHS) {
        // mountinfo: "<id> <parent> <dev> <root within its fs> <mount point> ...": this host's dir over p.
        assert.match(out, new RegExp(`/${h.name}/${p.slice(1).replace(/\//g, '-')} ${p} `), `${h.name}: ${p}`);
      }
      for (const other of bed.hosts.filter((x) => x.name !== h.name)) assert.ok(!out.includes(`/${other.name}/`), `${h.name} sees ${other.name}'s dirs`);
    }
    // Hosts reach each other over the bridge (a standby's backups are rsynced over ssh), and
    // each has its own hostname.
    const banner = await bed.exec('primary', `bash -c 'exec 3<>/dev/tcp/${bed.hosts[1]?.address}/22 && head -c 7 <&3'`);
    assert.equal(banner.stdout, 'SSH-2.0');
    assert.equal((await hostOf('ops').run('hostname')).trim(), 'ops');
  });

  it("a file written on one host is on that host's disk only", async () => {
    const primary = hostOf('primary');
    const standby = hostOf('standby');
    const file = '/var/lib/hastack/t/secrets.json';
    await primary.writeFile(file, '{"k":"v"}\n', 0o600);
    assert.equal(await primary.readFile(file), '{"k":"v"}\n');
    assert.equal(await standby.readFile(file), undefined);
    assert.equal(fs.existsSync('/var/lib/hastack/t'), false, 'written through to the real file system');
    const mode = await bed.exec('primary', `stat -c %a ${file}; ls -a /var/lib/hastack/t`);
    assert.deepEqual(
      mode.stdout.split('\n').filter((l) => l !== ''),
      ['600', '.', '..', 'secrets.json'],
    );
    // Overwriting is atomic and takes the new mode.
    await primary.writeFile(file, 'second', 0o640);
    assert.equal(await primary.readFile(file), 'second');
    assert.equal((await bed.exec('primary', `stat -c %a ${file}`)).stdout.trim(), '640');
    const parsed = await primary.runJson(`cat ${file}.json 2>/dev/null || echo '{"a":1}'`, z.object({ a: z.number() }));
    assert.deepEqual(parsed, { a: 1 });
  });

  it('uploadTar extracts a directory tree there; a failing local tar fails the upload', async () => {
    const src = path.join(work, 'pkg');
    fs.mkdirSync(path.join(src, 'dist/src'), { recursive: true });
    fs.writeFileSync(path.join(src, 'package.json'), '{"name":"x"}');
    fs.writeFileSync(path.join(src, 'dist/src/main.js'), 'console.log(1)\n');
    const ops = hostOf('ops');
    await ops.uploadTar(() => tarDirectory(src, ['package.json', 'dist']), '/opt/hastack');
    const listing = await ops.run('cd /opt/hastack && find . -type f | sort && cat dist/src/main.js');
    assert.equal(listing, './dist/src/main.js\n./package.json\nconsole.log(1)\n');
    assert.equal(await hostOf('primary').readFile('/opt/hastack/package.json'), undefined);
    await assert.rejects(
      ops.uploadTar(() => tarDirectory(src, ['no-such-entry']), '/opt/hastack/other'),
      (e: unknown) => e instanceof HostError && e.code === ErrorCode.HOST_COMMAND_FAILED,
    );
  });

  it('a failing command is HOST_COMMAND_FAILED with the tail of its stderr; exec reports the status instead', async () => {
    const standby = hostOf('standby');
    await assert.rejects(standby.run('echo first >&2; echo "mariadbd: not found" >&2; exit 3'), (e: unknown) => {
      assert.ok(e instanceof HostError);
      assert.equal(e.code, ErrorCode.HOST_COMMAND_FAILED);
      assert.equal(e.node, 'standby');
      assert.match(e.message, /^host standby \(root@10\.213\.80\.2:22\): .* exited with status 3/);
      assert.match(e.message, /mariadbd: not found/);
      return true;
    });
    assert.deepEqual(await standby.exec('echo out; echo err >&2; exit 255'), { code: 255, stdout: 'out\n', stderr: 'err\n' });
    // A command past its bound fails instead of hanging the deploy (teardown kills the sleep).
    await assert.rejects(
      standby.exec('sleep 60', { timeoutMs: 300 }),
      (e: unknown) => e instanceof HostError && e.code === ErrorCode.HOST_COMMAND_FAILED && e.details['timedOut'] === true,
    );
  });

  it('a host whose sshd is down is HOST_UNREACHABLE naming it; it is reachable again once sshd is back', async () => {
    const warm = hostOf('ops');
    await warm.run('true');
    await bed.stopSshd('ops');
    // A connection opened before the outage does not hide it.
    await assert.rejects(warm.run('true'), (e: unknown) => e instanceof HostError && e.code === ErrorCode.HOST_UNREACHABLE);
    await assert.rejects(hostOf('ops').run('true'), (e: unknown) => {
      assert.ok(e instanceof HostError);
      assert.equal(e.code, ErrorCode.HOST_UNREACHABLE);
      assert.equal(e.node, 'ops');
      assert.match(e.message, /^host ops \(root@10\.213\.80\.3:22\) is unreachable .*Connection refused.*sshd listens on 10\.213\.80\.3 port 22/);
      return true;
    });
    await bed.startSshd('ops');
    assert.equal((await hostOf('ops').run('hostname -I')).trim(), '10.213.80.3');
  });

  it('an address where no machine answers is HOST_UNREACHABLE after the connect timeout', async () => {
    const ghost = new SshHost(parseSshTarget('ghost', `root@${ADDRESS_BASE}.77:22`), {
      identityFile: bed.identityFile,
      knownHostsFile: bed.knownHostsFile,
      connectTimeoutMs: 1_000,
    });
    opened.push(ghost);
    await assert.rejects(ghost.run('true'), (e: unknown) => e instanceof HostError && e.code === ErrorCode.HOST_UNREACHABLE && e.node === 'ghost');
  });

  it('a host missing from known_hosts is HOST_KEY_UNKNOWN, and the ssh-keyscan line in the message fixes it', async () => {
    const known = path.join(work, 'known_partial');
    const lines = fs.readFileSync(bed.knownHostsFile, 'utf8').split('\n');
    fs.writeFileSync(known, lines.filter((l) => !l.startsWith(`${ADDRESS_BASE}.2 `)).join('\n'));
    let fix = '';
    await assert.rejects(hostOf('standby', { knownHostsFile: known }).run('true'), (e: unknown) => {
      assert.ok(e instanceof HostError);
      assert.equal(e.code, ErrorCode.HOST_KEY_UNKNOWN);
      assert.equal(e.message, `host standby (root@10.213.80.2:22): its host key is not in ${known}: verify it, then run ssh-keyscan -p 22 10.213.80.2 >> ${known}`);
      fix = e.message.slice(e.message.indexOf('ssh-keyscan'));
      return true;
    });
    execFileSync('sh', ['-c', `${fix} 2>/dev/null`]);
    assert.equal((await hostOf('standby', { knownHostsFile: known }).run('echo in')).trim(), 'in');
  });

  it('a host with a different key than recorded is HOST_KEY_CHANGED; a key it does not accept is HOST_AUTH_FAILED', async () => {
    const known = path.join(work, 'known_swapped');
    // primary's key recorded for standby's address: what a reinstalled machine looks like.
    const lines = fs
      .readFileSync(bed.knownHostsFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const primaryKey = lines
      .find((l) => l.startsWith(`${ADDRESS_BASE}.1 `))
      ?.split(' ')
      .slice(1)
      .join(' ');
    fs.writeFileSync(known, `${ADDRESS_BASE}.2 ${primaryKey}\n`);
    await assert.rejects(hostOf('standby', { knownHostsFile: known }).run('true'), (e: unknown) => e instanceof HostError && e.code === ErrorCode.HOST_KEY_CHANGED);

    const otherKey = path.join(work, 'other_id');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    await assert.rejects(hostOf('standby', { identityFile: otherKey }).run('true'), (e: unknown) => {
      assert.ok(e instanceof HostError);
      assert.equal(e.code, ErrorCode.HOST_AUTH_FAILED);
      assert.match(e.message, new RegExp(`ssh-copy-id -i ${otherKey}\\.pub -p 22 root@10\\.213\\.80\\.2`));
      return true;
    });
  });

  it('a daemon started over ssh stays in its host, and teardown kills it and leaves nothing', async () => {
    const standby = hostOf('standby');
    const pid = Number((await standby.run('setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!')).trim());
    assert.ok(pid > 0 && pidAlive(pid));
    const [ns] = (await bed.exec('standby', 'ip netns identify $$')).stdout.trim().split('\n');
    assert.equal(execFileSync('ip', ['netns', 'identify', String(pid)], { encoding: 'utf8' }).trim(), ns);
    const mnt = (p: number | string): string => fs.readlinkSync(`/proc/${p}/ns/mnt`);
    assert.notEqual(mnt(pid), mnt('self'), 'the daemon is in the host mount namespace, not a private one');
    assert.equal((await bed.exec('standby', `readlink /proc/${pid}/ns/mnt; readlink /proc/self/ns/mnt`)).stdout.split('\n')[0], mnt(pid));

    for (const s of opened) await s.close();
    const controlDirs = fs.readdirSync(work).filter((d) => d.startsWith('c'));
    const t0 = Date.now();
    await bed.teardown();
    console.log(`# figure: bed teardown ${Date.now() - t0} ms`);
    assert.equal(pidAlive(pid), false);
    assert.deepEqual(await bed.leftovers(), []);
    await bed.teardown(); // idempotent
    assert.equal(fs.existsSync(bed.dir), false);
    const othersAlive = fs.readdirSync('/run/netns').some((n) => n.startsWith('hbed-'));
    if (!othersAlive) for (const p of missingBefore) assert.equal(fs.existsSync(p), false, `${p} left on the real file system`);
    // No ssh master of ours survives its close().
    const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    for (const d of controlDirs) assert.ok(!ps.includes(path.join(work, d)), `an ssh master of ${d} is still running`);
  });
});

/**
 * The bed's machine operations (BED-API.md), in both modes, on the same /24 after the transport
 * tests are done with it: power off (nothing of the host runs), boot (sshd answers again; under
 * systemd, PID 1 is systemd with its own PID namespace and cgroups), isolate/rejoin, and a
 * teardown that leaves no process, namespace, link or cgroup.
 */
for (const init of ['keeper', 'systemd'] as const) {
  describe(`host bed machine operations (init: ${init})`, () => {
    let bed: HostBed;
    const ssh = (name: string): Promise<string> => {
      const h = bed.hosts.find((x) => x.name === name);
      assert.ok(h);
      return new Promise((resolve) => {
        execFile(
          'ssh',
          [
            '-i',
            bed.identityFile,
            '-o',
            `UserKnownHostsFile=${bed.knownHostsFile}`,
            '-o',
            'BatchMode=yes',
            '-o',
            'ConnectTimeout=3',
            h.sshTarget.replace(/:22$/, ''),
            'hostname; cat /proc/1/comm',
          ],
          { timeout: 15_000 },
          (e, stdout) => resolve(e === null ? stdout : `failed: ${e.message}`),
        );
      });
    };

    before(async () => {
      const t0 = Date.now();
      bed = await startHostBed({ hosts: ['primary', 'standby'], addressBase: ADDRESS_BASE, init });
      console.log(`# figure: ${init} bed of 2 hosts started in ${Date.now() - t0} ms`);
    });
    after(async () => {
      await bed?.teardown();
    });

    it('each host answers over ssh; under systemd its PID 1 is systemd, which runs its sshd', async () => {
      assert.equal(bed.init, init);
      const out = await ssh('primary');
      assert.match(out, /^primary\n/);
      if (init === 'systemd') {
        assert.match(out, /systemd$/m);
        const pid1 = bed.pid1('primary');
        assert.ok(pid1 !== undefined && pidAlive(pid1));
        assert.notEqual(fs.readlinkSync(`/proc/${pid1}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'));
        const st = await bed.exec('primary', 'systemctl is-system-running; systemctl is-active hbed-sshd; cat /proc/1/cgroup; cat /etc/machine-id');
        assert.match(st.stdout, /^running\nactive\n/);
        // The hosts' machine ids differ (journald and timers key on them).
        const other = await bed.exec('standby', 'cat /etc/machine-id');
        assert.notEqual(st.stdout.trim().split('\n').pop(), other.stdout.trim());
        // No distribution daemon started (mariadb, redis-server, ... are masked).
        const units = await bed.exec('primary', 'systemctl list-units --type=service --state=active --no-legend --plain | cut -d" " -f1');
        assert.deepEqual(units.stdout.trim().split('\n').sort(), ['hbed-sshd.service', 'systemd-journald.service']);
      } else {
        assert.equal(bed.pid1('primary'), undefined);
      }
    });

    it('powerOff leaves nothing of the host running; boot brings sshd back', async () => {
      const t0 = Date.now();
      await bed.powerOff('primary');
      const off = Date.now() - t0;
      assert.match(await ssh('primary'), /^failed/);
      assert.equal(bed.pid1('primary'), undefined);
      const t1 = Date.now();
      await bed.boot('primary');
      console.log(`# figure: ${init}: power off ${off} ms, boot to sshd answering ${Date.now() - t1} ms`);
      assert.match(await ssh('primary'), /^primary\n/);
      await bed.reboot('standby');
      assert.match(await ssh('standby'), /^standby\n/);
    });

    it('isolate cuts the host off both ways; rejoin restores it', async () => {
      const reach = async (from: string, to: string): Promise<boolean> => {
        const addr = bed.hosts.find((x) => x.name === to)?.address;
        return (await bed.exec(from, `timeout 1 bash -c 'exec 3<>/dev/tcp/${addr}/22'`)).code === 0;
      };
      // A link coming up (and the neighbour entry after it) takes a moment on a loaded machine:
      // reachability is waited for, the cut is checked at once.
      const reachable = (from: string, to: string): Promise<boolean | undefined> =>
        waitFor(async () => ((await reach(from, to)) ? true : undefined), { timeoutMs: 10_000, intervalMs: 200 });
      assert.equal(await reachable('standby', 'primary'), true);
      await bed.isolate('primary');
      assert.equal(await reach('standby', 'primary'), false);
      assert.equal(await reach('primary', 'standby'), false);
      await bed.rejoin('primary');
      assert.equal(await reachable('standby', 'primary'), true);
    });

    it('teardown leaves no process, namespace, link or cgroup', async () => {
      const pid1 = bed.pid1('standby');
      await bed.teardown();
      if (pid1 !== undefined) assert.equal(pidAlive(pid1), false);
      assert.deepEqual(await bed.leftovers(), []);
    });
  });
}
