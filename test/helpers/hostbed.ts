/**
 * A bed of stand-in "hosts" for `hastack deploy` tests: each host is a network namespace on a
 * bridge with its own address and its own sshd, inside a private mount namespace where the paths
 * hastack writes on a real machine (/opt/hastack, /var/lib/hastack, /etc/hastack,
 * /etc/keepalived, /root/.ssh) are bind mounts of per-host directories under a temp dir. The rest
 * of the file system (engines, node, /usr) is shared. Every process of a host, including daemons
 * started over ssh with setsid, lives in its network namespace, so teardown finds them all with
 * `ip netns pids`.
 *
 * Two kinds of host (`init`, BED-API: `HASTACK_BED_INIT` picks the default):
 * - `keeper`: a `sleep infinity` holds the host's mount and UTS namespaces, sshd is started into
 *   them with nsenter; hastack's deploy runs its keeper there (PID 1 is not systemd).
 * - `systemd`: the host boots systemd as PID 1 of its own PID, mount, UTS and cgroup namespaces
 *   (hostbed-systemd.ts), sshd being one of its units; deploy picks systemd there.
 * Both can lose power (`powerOff`: SIGKILL to everything of the host, its disk kept), `boot`
 * again, and be cut off the network (`isolate`/`rejoin`).
 *
 * Names: `hbed-<hash>-<host>` (namespaces, and cgroups of systemd hosts), `hbb-<hash>` (bridge),
 * `hbv-<hash>-<i>` (veths), the hash being of the address base: they cannot collide with the
 * netns substrate's `hs-*`/`hsb-*`/`hsv-*`, and two beds on different address bases cannot
 * collide with each other.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { portOpen } from '../../src/shared/net.js';
import { waitFor } from '../../src/shared/retry.js';
import { hostLinks, listNamespaces } from '../../src/substrate/index.js';
import { BED_SSHD_UNIT, SYSTEMD_PRIVATE_PATHS, bootScript, cgroupLayout, hostCgroups, removeCgroups } from './hostbed-systemd.js';

const run = promisify(execFile);
/** `ip`, `ssh-keygen` and `nsenter` answer in milliseconds; 20 s means something is stuck. */
const CMD_TIMEOUT_MS = 20_000;
/** sshd binds its address within ~100 ms of starting; 10 s means it failed (its log says why). */
const SSHD_START_TIMEOUT_MS = 10_000;
/**
 * A systemd host reaches multi-user.target in 1-3 s here; a minute covers its units' own starts
 * (hastack's units come back at boot, MariaDB's ExecStartPre included) on a machine shared by
 * many tests, and is only reached when the boot hangs (its console.log says where).
 */
const BOOT_TIMEOUT_MS = 60_000;
/** SIGKILL to a PID 1 ends its namespace within milliseconds; 10 s means something is stuck. */
const POWER_OFF_TIMEOUT_MS = 10_000;
const SYSTEMD = '/lib/systemd/systemd';
const NETNS_DIR = '/run/netns';
/** The paths a deployed hastack writes on a machine: each host gets its own copy. */
export const HOST_PRIVATE_PATHS = ['/opt/hastack', '/var/lib/hastack', '/etc/hastack', '/etc/keepalived', '/root/.ssh'] as const;
/** sshd's privilege separation directory (Debian's init script creates it; we run none). */
const SSHD_PRIVSEP_DIR = '/run/sshd';
/**
 * Directories beds created on the real file system, shared by every bed on the machine: an empty
 * mountpoint dir is removed only by the last bed to go (removing a directory another bed's mount
 * namespace has a mount on would silently detach that mount).
 */
const CREATED_DIRS_FILE = '/run/hastack-hostbed-dirs';
const NS_PREFIX = 'hbed-';
const ROOT_BASHRC = '/root/.bashrc';
const SKEL_BASHRC = '/etc/skel/.bashrc';

export type BedInit = 'systemd' | 'keeper';

/** `HASTACK_BED_INIT` if set (`systemd` or `keeper`), else `keeper`. */
export function defaultBedInit(): BedInit {
  const v = process.env['HASTACK_BED_INIT'];
  if (v === undefined || v === '') return 'keeper';
  if (v !== 'systemd' && v !== 'keeper') throw new Error(`HASTACK_BED_INIT must be systemd or keeper, not "${v}"`);
  return v;
}

export interface BedHost {
  readonly name: string;
  readonly address: string;
  /** `root@<address>:22`, for `nodes[].ssh`. */
  readonly sshTarget: string;
  /** This host's directory on the real file system (its private paths live under it). */
  readonly dir: string;
}

export interface BedExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface HostBed {
  /** What runs as each host's PID 1: systemd, or nothing of the host's own (hastack's keeper runs the units). */
  readonly init: BedInit;
  readonly hosts: readonly BedHost[];
  /** Private key every host accepts for root. */
  readonly identityFile: string;
  /** known_hosts with every host's key. */
  readonly knownHostsFile: string;
  /** The bed's temp dir (keys, per-host dirs); removed by teardown. */
  readonly dir: string;
  /**
   * Runs `sh -c cmd` inside the host, without ssh (for assertions): its network, mount and UTS
   * namespaces; under systemd every namespace of its PID 1 (`systemctl`, `ps`, `ip` see the host).
   */
  exec(host: string, cmd: string, opts?: { timeoutMs?: number }): Promise<BedExecResult>;
  /** Stops the host's sshd and every ssh session into it (shared connections included): "unreachable". */
  stopSshd(host: string): Promise<void>;
  startSshd(host: string): Promise<void>;
  /**
   * The machine loses power: SIGKILL to every process of the host at once. Its network namespace,
   * link and files stay. Returns when nothing of it runs.
   */
  powerOff(host: string): Promise<void>;
  /**
   * Powers the host on and returns when sshd answers; under systemd also once the boot is over
   * (`systemctl is-system-running` left `starting`: every enabled unit was started). The keeper
   * mode starts no service at boot.
   */
  boot(host: string): Promise<void>;
  /** powerOff, then boot. */
  reboot(host: string): Promise<void>;
  /** Cuts the host off the network (its bridge-side veth down): it runs, nobody reaches it, it reaches nobody. */
  isolate(host: string): Promise<void>;
  rejoin(host: string): Promise<void>;
  /** The host's PID 1 as the real machine sees it (systemd mode, while powered on). */
  pid1(host: string): number | undefined;
  /** Kills every process in the bed's namespaces, deletes them, the bridge and the temp dir. Idempotent. */
  teardown(): Promise<void>;
  /** What teardown would remove that still exists (namespaces, links, cgroups, temp dir, mountpoint dirs). */
  leftovers(): Promise<string[]>;
}

interface HostState extends BedHost {
  readonly index: number;
  readonly ns: string;
  /** This host's cgroup under each real hierarchy (systemd mode), the same name as its namespace. */
  readonly cgroup: string;
  readonly veth: string;
  readonly sshdConfig: string;
  /** keeper: `sleep infinity` that owns the host's mount namespace while it is on; 0 when off. */
  holderPid: number;
  sshdPid: number | undefined;
  /** systemd: the PID namespace's first process (systemd) while the host is on. */
  pid1: number | undefined;
}

export function hostBedNames(addressBase: string): { hash: string; bridge: string; vethPrefix: string; nsPrefix: string } {
  const hash = createHash('sha1').update(`hostbed:${addressBase}`).digest('hex').slice(0, 6);
  return { hash, bridge: `hbb-${hash}`, vethPrefix: `hbv-${hash}-`, nsPrefix: `${NS_PREFIX}${hash}-` };
}

export async function startHostBed(opts: { hosts: readonly string[]; addressBase: string; init?: BedInit }): Promise<HostBed> {
  if (process.getuid?.() !== 0) throw new Error('the host bed creates namespaces and needs root');
  if (!fs.existsSync('/usr/sbin/sshd')) throw new Error('the host bed needs sshd: apt-get install openssh-server');
  const init = opts.init ?? defaultBedInit();
  if (init === 'systemd') {
    if (!fs.existsSync(SYSTEMD)) throw new Error(`the systemd host bed needs ${SYSTEMD}: apt-get install systemd`);
    cgroupLayout();
  }
  const names = hostBedNames(opts.addressBase);
  // A bed a crashed test left on this address base is ours: clear it first.
  await removeNetwork(names);
  for (const h of opts.hosts) await removeHostCgroups(`${names.nsPrefix}${h}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-hostbed-'));
  const identityFile = path.join(dir, 'id_ed25519');
  const knownHostsFile = path.join(dir, 'known_hosts');
  const hosts: HostState[] = opts.hosts.map((name, i) => {
    const address = `${opts.addressBase}.${i + 1}`;
    const hostDir = path.join(dir, name);
    return {
      name,
      index: i + 1,
      address,
      sshTarget: `root@${address}:22`,
      dir: hostDir,
      ns: `${names.nsPrefix}${name}`,
      cgroup: `${names.nsPrefix}${name}`,
      veth: `${names.vethPrefix}${i + 1}`,
      sshdConfig: path.join(hostDir, 'sshd_config'),
      holderPid: 0,
      sshdPid: undefined,
      pid1: undefined,
    };
  });
  let tornDown = false;

  const bed: HostBed = {
    init,
    hosts: hosts.map(({ name, address, sshTarget, dir: d }) => ({ name, address, sshTarget, dir: d })),
    identityFile,
    knownHostsFile,
    dir,
    exec: (host, cmd, o) => inHost(init, find(host), cmd, o?.timeoutMs ?? CMD_TIMEOUT_MS),
    stopSshd: (host) => stopSshd(init, find(host)),
    startSshd: (host) => startSshd(init, find(host)),
    powerOff: (host) => powerOff(find(host)),
    boot: (host) => boot(init, find(host)),
    async reboot(host) {
      await powerOff(find(host));
      await boot(init, find(host));
    },
    isolate: (host) => ip('link', 'set', find(host).veth, 'down').then(() => undefined),
    rejoin: (host) => ip('link', 'set', find(host).veth, 'up').then(() => undefined),
    pid1: (host) => {
      const h = find(host);
      return h.pid1 !== undefined && alive(h.pid1) ? h.pid1 : undefined;
    },
    async teardown() {
      if (tornDown) return;
      tornDown = true;
      await removeNetwork(names);
      for (const h of hosts) await removeHostCgroups(h.cgroup);
      removeCreatedDirs();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async leftovers() {
      const ns = listNamespaces().filter((n) => n.startsWith(names.nsPrefix));
      const links = (await hostLinks()).filter((l) => l === names.bridge || l.startsWith(names.vethPrefix));
      const cgroups = init === 'systemd' ? hosts.flatMap((h) => hostCgroups(h.cgroup)).filter((c) => fs.existsSync(c)) : [];
      const left = [...ns, ...links, ...cgroups];
      if (fs.existsSync(dir)) left.push(dir);
      if (!otherBedsAlive()) left.push(...readCreatedDirs().filter((d) => fs.existsSync(d)));
      return left;
    },
  };

  function find(name: string): HostState {
    const h = hosts.find((x) => x.name === name);
    if (h === undefined) throw new Error(`no host "${name}" in this bed (hosts: ${hosts.map((x) => x.name).join(', ')})`);
    return h;
  }

  try {
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'hastack-hostbed', '-f', identityFile], { timeout: CMD_TIMEOUT_MS });
    const clientKey = fs.readFileSync(`${identityFile}.pub`, 'utf8');
    await ip('link', 'add', names.bridge, 'type', 'bridge');
    await ip('addr', 'add', `${opts.addressBase}.254/24`, 'dev', names.bridge);
    await ip('link', 'set', names.bridge, 'up');
    const known: string[] = [];
    for (const h of hosts) {
      for (const p of privatePaths(init)) fs.mkdirSync(privateDir(h, p), { recursive: true, mode: p === '/var/tmp' ? 0o1777 : 0o700 });
      if (init === 'systemd') {
        fs.chmodSync(privateDir(h, '/var/tmp'), 0o1777);
        fs.writeFileSync(path.join(h.dir, 'hostname'), `${h.name}\n`);
        // Each machine its own id: journald, timers' stamps and systemd's own files key on it.
        fs.writeFileSync(path.join(h.dir, 'machine-id'), `${createHash('md5').update(`${dir}:${h.name}`).digest('hex')}\n`, { mode: 0o444 });
      }
      fs.writeFileSync(path.join(privateDir(h, '/root/.ssh'), 'authorized_keys'), clientKey, { mode: 0o600 });
      const hostKey = path.join(h.dir, 'ssh_host_ed25519_key');
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `hostbed-${h.name}`, '-f', hostKey], { timeout: CMD_TIMEOUT_MS });
      const [type, key] = fs.readFileSync(`${hostKey}.pub`, 'utf8').split(' ');
      known.push(`${h.address} ${type} ${key}`);
      fs.writeFileSync(h.sshdConfig, sshdConfig(h, hostKey));

      await ip('netns', 'add', h.ns);
      await ip('link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
      await ip('link', 'set', h.veth, 'master', names.bridge, 'up');
      await ip('-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0');
      await ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
      await ip('-n', h.ns, 'link', 'set', 'lo', 'up');
    }
    // Only now, with this bed's namespaces in place (they tell other beds' teardowns that a bed
    // is alive), the mountpoints the real fs lacks are created.
    ensureRealDirs(privatePaths(init));
    // Systemd hosts boot together (each takes seconds, mostly waiting); keeper hosts in turn.
    if (init === 'systemd') await Promise.all(hosts.map((h) => boot(init, h)));
    else for (const h of hosts) await boot(init, h);
    fs.writeFileSync(knownHostsFile, `${known.join('\n')}\n`);
  } catch (e) {
    await bed.teardown().catch(() => undefined);
    throw e;
  }
  return bed;
}

function privateDir(h: HostState, p: string): string {
  return path.join(h.dir, p.slice(1).replace(/\//g, '-'));
}

function privatePaths(init: BedInit): string[] {
  return init === 'systemd' ? [...HOST_PRIVATE_PATHS, ...SYSTEMD_PRIVATE_PATHS] : [...HOST_PRIVATE_PATHS];
}

/** The bashrc bound over root's (see startHolder), or undefined when root has none. */
function freshBashrc(h: HostState): string | undefined {
  if (!fs.existsSync(ROOT_BASHRC)) return undefined;
  // bash sources root's ~/.bashrc for every command sshd runs. A fresh host has Debian's
  // (/etc/skel: returns at once when not interactive); this machine's may not (a pyenv init
  // there costs 200+ ms per command), so each host gets the fresh one.
  const bashrc = path.join(h.dir, 'bashrc');
  fs.writeFileSync(bashrc, fs.existsSync(SKEL_BASHRC) ? fs.readFileSync(SKEL_BASHRC) : '');
  return bashrc;
}

async function boot(init: BedInit, h: HostState): Promise<void> {
  if (init === 'keeper') {
    await startHolder(h);
    await startSshd(init, h);
    return;
  }
  await bootSystemd(h);
}

function sshdConfig(h: HostState, hostKey: string): string {
  return [
    `ListenAddress ${h.address}:22`,
    `HostKey ${hostKey}`,
    `PidFile ${path.join(h.dir, 'sshd.pid')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    // Resolved in the host's mount namespace: the per-host /root/.ssh.
    'AuthorizedKeysFile /root/.ssh/authorized_keys',
    // No PAM stack (and no system sshd config) needed; the temp dir's modes need no care.
    'UsePAM no',
    'StrictModes no',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    // A deploy multiplexes many sessions over one connection (ssh's default allows 10).
    'MaxSessions 64',
    'MaxStartups 64',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

/**
 * The host's anchor: enters its network namespace, makes a private mount namespace with the
 * host's own directories bound over the private paths (and a UTS namespace with the host's
 * name as hostname), and sleeps. sshd and `exec` join it.
 */
async function startHolder(h: HostState): Promise<void> {
  const ready = path.join(h.dir, 'holder.ready');
  if (h.holderPid !== 0 && alive(h.holderPid)) return;
  fs.rmSync(ready, { force: true });
  const binds = HOST_PRIVATE_PATHS.map((p) => `mount --bind ${privateDir(h, p)} ${p}`);
  const bashrc = freshBashrc(h);
  if (bashrc !== undefined) binds.push(`mount --bind ${bashrc} ${ROOT_BASHRC}`);
  // Its own hostname too (a UTS namespace), so what a deploy prints per host tells them apart.
  const script = `${binds.join(' && ')} && hostname ${h.name} && touch ${ready} && exec sleep infinity`;
  const log = fs.openSync(path.join(h.dir, 'holder.log'), 'a');
  const child = spawn('nsenter', [`--net=${NETNS_DIR}/${h.ns}`, '--', 'unshare', '--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c', script], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`starting the namespace holder of ${h.name} failed`);
  h.holderPid = child.pid;
  let exited = false;
  child.once('exit', () => (exited = true));
  const ok = await waitFor(async () => (fs.existsSync(ready) ? true : exited ? false : undefined), { timeoutMs: SSHD_START_TIMEOUT_MS, intervalMs: 20 });
  if (ok !== true) throw new Error(`host ${h.name}: its mount namespace was not set up: ${fs.readFileSync(path.join(h.dir, 'holder.log'), 'utf8')}`);
}

function enter(h: HostState): string[] {
  return [`--net=${NETNS_DIR}/${h.ns}`, `--mount=/proc/${h.holderPid}/ns/mnt`, `--uts=/proc/${h.holderPid}/ns/uts`, '--'];
}

/** nsenter's arguments into the host: under systemd every namespace of its PID 1. */
function enterArgs(init: BedInit, h: HostState): string[] {
  if (init === 'keeper') {
    if (h.holderPid === 0 || !alive(h.holderPid)) throw new Error(`host ${h.name} is powered off`);
    return enter(h);
  }
  if (h.pid1 === undefined || !alive(h.pid1)) throw new Error(`host ${h.name} is powered off`);
  return ['-t', String(h.pid1), '-a', '--'];
}

async function startSshd(init: BedInit, h: HostState): Promise<void> {
  if (init === 'systemd') {
    const r = await inHost(init, h, `systemctl start ${BED_SSHD_UNIT}`, CMD_TIMEOUT_MS);
    if (r.code !== 0) throw new Error(`host ${h.name}: systemctl start ${BED_SSHD_UNIT}: ${r.stderr}`);
    const up = await waitFor(async () => ((await portOpen(h.address, 22, 500)) ? true : undefined), { timeoutMs: SSHD_START_TIMEOUT_MS, intervalMs: 50 });
    if (up !== true) throw new Error(`host ${h.name}: sshd did not start; ${(await inHost(init, h, `journalctl -u ${BED_SSHD_UNIT} -n 30 --no-pager`, CMD_TIMEOUT_MS)).stdout}`);
    return;
  }
  if (h.sshdPid !== undefined && alive(h.sshdPid)) return;
  const logPath = path.join(h.dir, 'sshd.log');
  const log = fs.openSync(logPath, 'a');
  const child = spawn('nsenter', [...enter(h), '/usr/sbin/sshd', '-D', '-e', '-f', h.sshdConfig], { detached: true, stdio: ['ignore', log, log], cwd: '/' });
  fs.closeSync(log);
  child.unref();
  h.sshdPid = child.pid;
  let exited = false;
  child.once('exit', () => (exited = true));
  const up = await waitFor(async () => (exited ? false : (await portOpen(h.address, 22, 500)) ? true : undefined), { timeoutMs: SSHD_START_TIMEOUT_MS, intervalMs: 50 });
  if (up !== true) throw new Error(`host ${h.name}: sshd did not start; ${logPath}:\n${fs.readFileSync(logPath, 'utf8').slice(-2000)}`);
}

async function stopSshd(init: BedInit, h: HostState): Promise<void> {
  // systemd would restart its sshd unit: stopped there first (its KillMode=process leaves the
  // sessions, killed below).
  if (init === 'systemd') await inHost(init, h, `systemctl stop ${BED_SSHD_UNIT}`, CMD_TIMEOUT_MS);
  // The listener and every session process (each connection has its own sshd): a host whose
  // sshd is down also drops the connections it had.
  const pids = (await namespacePids(h.ns)).filter((p) => comm(p) === 'sshd');
  for (const p of pids) signal(p, 'SIGKILL');
  await waitFor(async () => (pids.some(alive) ? undefined : true), { timeoutMs: 5_000, intervalMs: 20 });
  h.sshdPid = undefined;
}

function inHost(init: BedInit, h: HostState, cmd: string, timeoutMs: number): Promise<BedExecResult> {
  let args: string[];
  try {
    args = enterArgs(init, h);
  } catch (e) {
    return Promise.resolve({ code: 255, stdout: '', stderr: (e as Error).message });
  }
  return new Promise((resolve) => {
    execFile('nsenter', [...args, 'sh', '-c', cmd], { timeout: timeoutMs, cwd: '/', maxBuffer: 16 * 1024 * 1024 }, (e, stdout, stderr) => {
      const code = e === null ? 0 : typeof e.code === 'number' ? e.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Boots systemd as PID 1 of a new PID namespace, in fresh mount, UTS and cgroup namespaces,
 * inside the host's network namespace, started from within the host's own cgroups (so its
 * cgroup namespace's root is them). Returns when sshd answers and the boot is over.
 */
async function bootSystemd(h: HostState): Promise<void> {
  if (h.pid1 !== undefined && alive(h.pid1)) return;
  // A host powered off a moment ago may still have its cgroups (the kernel frees a cgroup once
  // its last task is reaped): gone before it boots again, so nothing of the last boot lingers.
  await removeHostCgroups(h.cgroup);
  const cgroups = hostCgroups(h.cgroup);
  for (const c of cgroups) fs.mkdirSync(c, { recursive: true });
  const binds: Array<[string, string]> = privatePaths('systemd').map((p) => [privateDir(h, p), p]);
  binds.push([path.join(h.dir, 'hostname'), '/etc/hostname'], [path.join(h.dir, 'machine-id'), '/etc/machine-id']);
  const bashrc = freshBashrc(h);
  if (bashrc !== undefined) binds.push([bashrc, ROOT_BASHRC]);
  const script = path.join(h.dir, 'boot.sh');
  fs.writeFileSync(script, bootScript({ name: h.name, dir: h.dir, binds, sshdConfig: h.sshdConfig }));
  const consolePath = path.join(h.dir, 'console.log');
  const log = fs.openSync(consolePath, 'a');
  fs.writeSync(log, `\n---- boot of ${h.name} at ${new Date().toISOString()}\n`);
  // The launcher joins the host's cgroups, then becomes `unshare`, whose child is the host's PID 1.
  const join = cgroups.map((c) => `echo $$ > ${c}/cgroup.procs`).join(' && ');
  const unshare = `exec nsenter --net=${NETNS_DIR}/${h.ns} -- unshare --pid --fork --mount --uts --cgroup --mount-proc --propagation private -- sh ${script}`;
  const child = spawn('sh', ['-c', `${join} && ${unshare}`], { detached: true, stdio: ['ignore', log, log], cwd: '/' });
  fs.closeSync(log);
  child.unref();
  const launcher = child.pid;
  if (launcher === undefined) throw new Error(`booting ${h.name} failed to spawn`);
  let exited = false;
  child.once('exit', () => (exited = true));
  const fail = (why: string): Error => new Error(`host ${h.name}: ${why}; ${consolePath}:\n${fs.readFileSync(consolePath, 'utf8').slice(-3000)}`);
  // PID 1 is unshare's only child; it is systemd once it has exec'd.
  const pid1 = await waitFor(
    async () => {
      if (exited) return false;
      const kids = readChildren(launcher);
      const p = kids[0];
      return p !== undefined && comm(p) === 'systemd' ? p : undefined;
    },
    { timeoutMs: BOOT_TIMEOUT_MS, intervalMs: 20 },
  );
  if (typeof pid1 !== 'number') throw fail('its PID 1 did not become systemd');
  h.pid1 = pid1;
  // `--wait`: blocks until the boot is over (running, or degraded if a unit failed). Until
  // systemd has made its control socket (a few ms after its exec) systemctl cannot connect.
  const state = await waitFor(
    async () => {
      const r = await inHost('systemd', h, 'systemctl is-system-running --wait', BOOT_TIMEOUT_MS);
      return /Failed to connect/.test(r.stderr) && alive(pid1) ? undefined : r;
    },
    { timeoutMs: BOOT_TIMEOUT_MS, intervalMs: 50 },
  );
  if (state === undefined) throw fail('systemctl could not reach its PID 1');
  const s = state.stdout.trim();
  if (s !== 'running' && s !== 'degraded') throw fail(`systemd did not finish booting (is-system-running: ${s || state.stderr.trim()})`);
  const up = await waitFor(async () => ((await portOpen(h.address, 22, 500)) ? true : undefined), { timeoutMs: SSHD_START_TIMEOUT_MS, intervalMs: 50 });
  if (up !== true) throw fail(`sshd (${BED_SSHD_UNIT}) did not answer after the boot`);
}

/** SIGKILL to every process of the host (its PID 1 ends its PID namespace); returns when none is left. */
async function powerOff(h: HostState): Promise<void> {
  if (h.pid1 !== undefined) signal(h.pid1, 'SIGKILL');
  const gone = await waitFor(
    async () => {
      // Whatever else runs in the netns (keeper mode: everything; systemd: the launcher, nsenter
      // sessions in their last breath) is killed too; repeated in case one forked meanwhile.
      const pids = await namespacePids(h.ns);
      for (const p of pids) signal(p, 'SIGKILL');
      return pids.filter(alive).length === 0 ? true : undefined;
    },
    { timeoutMs: POWER_OFF_TIMEOUT_MS, intervalMs: 30 },
  );
  if (gone !== true) throw new Error(`host ${h.name}: processes still run after SIGKILL: ${(await namespacePids(h.ns)).join(' ')}`);
  h.pid1 = undefined;
  h.holderPid = 0;
  h.sshdPid = undefined;
  await removeHostCgroups(h.cgroup);
}

/** A host's cgroups, once their tasks are reaped (a SIGKILLed tree takes a few milliseconds). */
async function removeHostCgroups(cgroup: string): Promise<void> {
  if (cgroupLayoutOrNone() === undefined) return;
  await waitFor(
    async () => {
      removeCgroups(cgroup);
      return hostCgroups(cgroup).some((c) => fs.existsSync(c)) ? undefined : true;
    },
    { timeoutMs: POWER_OFF_TIMEOUT_MS, intervalMs: 30 },
  );
}

function cgroupLayoutOrNone(): string | undefined {
  try {
    return cgroupLayout();
  } catch {
    return undefined;
  }
}

function readChildren(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number)
      .filter((p) => p > 0);
  } catch {
    return [];
  }
}

/** Kills everything in the bed's namespaces, then deletes them, the veths and the bridge. */
async function removeNetwork(names: ReturnType<typeof hostBedNames>): Promise<void> {
  const mine = listNamespaces().filter((n) => n.startsWith(names.nsPrefix));
  // A process may fork while we kill (a keeper restarting its service): repeat until empty.
  for (let round = 0; round < 20; round++) {
    let any = false;
    for (const ns of mine) {
      for (const p of await namespacePids(ns)) {
        any = true;
        signal(p, 'SIGKILL');
      }
    }
    if (!any) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const ns of mine) await ip('netns', 'del', ns).catch(() => undefined);
  const links = await hostLinks();
  for (const l of links.filter((x) => x.startsWith(names.vethPrefix))) await ip('link', 'del', l).catch(() => undefined);
  if (links.includes(names.bridge)) await ip('link', 'del', names.bridge).catch(() => undefined);
}

/** Creates the mountpoints (and sshd's privsep dir) the real fs lacks, and records them. */
function ensureRealDirs(paths: readonly string[]): void {
  const created: string[] = [];
  for (const d of [...paths, SSHD_PRIVSEP_DIR]) {
    if (fs.existsSync(d)) continue;
    // Only the missing levels are ours (/etc/keepalived, not /etc).
    let top = d;
    while (!fs.existsSync(path.dirname(top))) top = path.dirname(top);
    fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    created.push(top);
  }
  if (created.length > 0) fs.appendFileSync(CREATED_DIRS_FILE, created.map((d) => `${d}\n`).join(''));
}

function readCreatedDirs(): string[] {
  try {
    return fs
      .readFileSync(CREATED_DIRS_FILE, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  } catch {
    return [];
  }
}

function otherBedsAlive(): boolean {
  return listNamespaces().some((n) => n.startsWith(NS_PREFIX));
}

/** The last bed to go removes the empty dirs beds created (never a dir with something in it). */
function removeCreatedDirs(): void {
  if (otherBedsAlive()) return;
  const dirs = readCreatedDirs();
  // Deepest first, so a created parent is empty by the time its turn comes.
  for (const d of [...new Set(dirs)].sort((a, b) => b.length - a.length)) {
    try {
      fs.rmdirSync(d);
    } catch {
      // Not empty (someone put something there) or already gone: leave it.
    }
  }
  fs.rmSync(CREATED_DIRS_FILE, { force: true });
}

async function namespacePids(ns: string): Promise<number[]> {
  const { stdout } = await ip('netns', 'pids', ns).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .map(Number)
    .filter((p) => p > 0);
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": a zombie (Z) is dead for our purposes.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

async function ip(...args: string[]): Promise<{ stdout: string }> {
  try {
    return await run('ip', args, { timeout: CMD_TIMEOUT_MS });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}
