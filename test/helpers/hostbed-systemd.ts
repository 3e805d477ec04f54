/**
 * The systemd half of the host bed (hostbed.ts): what a host needs to boot
 * `/lib/systemd/systemd --system` as PID 1 of its own PID, mount, UTS and cgroup namespaces
 * inside its network namespace, like a real machine, next to other such hosts on one kernel.
 *
 * What is private to a host (the rest of the file system, engines and /etc/passwd included, is
 * the real machine's):
 * - `/run` and `/tmp` (tmpfs, empty at every boot, as on a real machine);
 * - `/etc/systemd/system` (hastack's unit files and their enablement: they survive a reboot),
 *   `/var/lib/systemd` (timer stamps), `/var/log/journal`, `/var/tmp` (PrivateTmp= of units),
 *   `/etc/hostname`, `/etc/machine-id` (journald and systemd key on it), plus hostbed.ts's
 *   HOST_PRIVATE_PATHS: per-host directories under the bed's dir, bound over those paths;
 * - its cgroups: a host's PID 1 starts inside `hbed-<hash>-<host>` of each real hierarchy and
 *   mounts the hierarchies afresh inside its cgroup namespace, so two hosts' `ssh.service`
 *   never share a cgroup (systemd kills a unit by its cgroup).
 *
 * What must not run in a host: the distribution's units for the engines (mariadb, redis-server,
 * ... installed on the real machine with their enablement in the real /etc/systemd/system, which a
 * host does not see), and the machine-wide units that would act on the shared kernel or shared
 * files (sysctl, binfmt, tmpfiles' boot cleanup of /etc/*.lock, utmp, gettys). They are masked
 * in `/run/systemd/system` at every boot; every generator is masked (sysv scripts in /etc/init.d
 * would otherwise become units). sshd runs as the unit `hbed-sshd.service`, wanted by
 * multi-user.target, so a boot brings it back.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Paths systemd writes that must not be shared between hosts, on top of HOST_PRIVATE_PATHS. */
export const SYSTEMD_PRIVATE_PATHS = ['/etc/systemd/system', '/var/lib/systemd', '/var/log/journal', '/var/tmp'] as const;

export const BED_SSHD_UNIT = 'hbed-sshd.service';

const UNIT_DIRS = ['/lib/systemd/system', '/usr/lib/systemd/system'];
const GENERATOR_DIRS = ['/lib/systemd/system-generators', '/usr/lib/systemd/system-generators'];

/** The distribution's units of engines and daemons installed on this machine (by unit name). */
const DISTRO_DAEMONS = /^(mariadb|mysql|mysqld|redis|memcached|ssh|sshd|keepalived|haproxy|etcd|postgresql|nginx|php[\d.]*-fpm|pebble|rsync|cron|apache2|exim4|gunicorn)([@.-]|$)/;

/** Units that act on the shared kernel, shared files or consoles, or are pointless in a bed. */
const MACHINE_UNITS = [
  'getty.target',
  'getty@.service',
  'serial-getty@.service',
  'console-getty.service',
  'container-getty@.service',
  'systemd-logind.service',
  'dbus.service',
  'dbus.socket',
  'systemd-machine-id-commit.service',
  'systemd-firstboot.service',
  // tmpfiles at boot removes /etc/passwd.lock (another host's useradd may hold it) and
  // /var/tmp/systemd-private-*; /run/lock is made by the boot script instead.
  'systemd-tmpfiles-setup.service',
  'systemd-tmpfiles-setup-dev.service',
  'systemd-tmpfiles-clean.timer',
  'systemd-sysctl.service',
  'systemd-binfmt.service',
  'proc-sys-fs-binfmt_misc.automount',
  'proc-sys-fs-binfmt_misc.mount',
  'systemd-modules-load.service',
  'kmod-static-nodes.service',
  'systemd-sysusers.service',
  'systemd-update-utmp.service',
  'systemd-update-utmp-runlevel.service',
  'systemd-user-sessions.service',
  'systemd-remount-fs.service',
  'systemd-random-seed.service',
  'systemd-pstore.service',
  'systemd-timesyncd.service',
  'systemd-hwdb-update.service',
  'systemd-journal-flush.service',
  'systemd-udevd.service',
  'systemd-udevd-control.socket',
  'systemd-udevd-kernel.socket',
  'systemd-udev-trigger.service',
  'systemd-networkd.service',
  'systemd-resolved.service',
  'networking.service',
  'systemd-ask-password-wall.path',
  'systemd-ask-password-console.path',
  'systemd-repart.service',
  'systemd-pcrphase.service',
  'systemd-pcrphase-sysinit.service',
  'e2scrub_reap.service',
  'e2scrub_all.timer',
  'fstrim.timer',
  'dev-hugepages.mount',
  'dev-mqueue.mount',
  'sys-kernel-debug.mount',
  'sys-kernel-tracing.mount',
  'sys-kernel-config.mount',
  'sys-fs-fuse-connections.mount',
];

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Every unit a host masks: the machine-wide ones and the distribution's daemons present here. */
export function maskedUnits(): string[] {
  const distro = UNIT_DIRS.flatMap(listDir).filter((u) => DISTRO_DAEMONS.test(u) && /\.(service|socket|timer|path)$/.test(u));
  return [...new Set([...MACHINE_UNITS, ...distro])].sort();
}

function generators(): string[] {
  return [...new Set(GENERATOR_DIRS.flatMap(listDir))].sort();
}

export function sshdUnit(sshdConfig: string): string {
  return [
    '[Unit]',
    'Description=sshd of this bed host (stands in for Debian ssh.service, which is masked)',
    'After=network.target',
    '',
    '[Service]',
    `ExecStart=/usr/sbin/sshd -D -e -f ${sshdConfig}`,
    // As Debian's: a stop or restart of sshd leaves sessions (and what they started) running.
    'KillMode=process',
    'Restart=always',
    'RestartSec=200ms',
    'RuntimeDirectory=sshd',
    'RuntimeDirectoryMode=0755',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** How the real machine mounts cgroups: v1 + v2 side by side (hybrid), or v2 only. */
export function cgroupLayout(): 'hybrid' | 'unified' {
  if (fs.existsSync('/sys/fs/cgroup/unified/cgroup.procs') && fs.existsSync('/sys/fs/cgroup/systemd/cgroup.procs')) return 'hybrid';
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'unified';
  throw new Error('the systemd host bed needs the cgroup2 hierarchy (or the hybrid layout with name=systemd), mounted under /sys/fs/cgroup');
}

/** The real hierarchy roots a host's PID 1 gets its own directory in. */
export function cgroupRoots(): string[] {
  return cgroupLayout() === 'hybrid' ? ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'] : ['/sys/fs/cgroup'];
}

/** The host's cgroup directories on the real machine (one per hierarchy). */
export function hostCgroups(cgroup: string): string[] {
  return cgroupRoots().map((r) => path.join(r, cgroup));
}

/** Removes a host's cgroup trees (deepest first); only empty cgroups can go, so call it once nothing runs. */
export function removeCgroups(cgroup: string): void {
  for (const top of hostCgroups(cgroup)) {
    if (!fs.existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
      dirs.push(d);
    };
    try {
      walk(top);
    } catch {
      // Removed meanwhile.
    }
    for (const d of dirs) {
      try {
        fs.rmdirSync(d);
      } catch {
        // A task not yet reaped still counts: the caller retries.
      }
    }
  }
}

export interface BootScriptInput {
  readonly name: string;
  /** The host's directory on the real fs (kept visible inside at the same path). */
  readonly dir: string;
  /** `[source on the real fs, path inside]`, bind-mounted in this order. */
  readonly binds: ReadonlyArray<readonly [string, string]>;
  readonly sshdConfig: string;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The script run as the new PID namespace's first process, already in the host's fresh mount,
 * UTS and cgroup namespaces: it makes the private mounts, then becomes systemd.
 */
export function bootScript(b: BootScriptInput): string {
  const lines = ['set -eu', 'mount --make-rprivate /'];
  for (const [src, dst] of b.binds) lines.push(`mount --bind ${q(src)} ${q(dst)}`);
  // /run and /tmp start empty at every boot. The host's own dir (sshd's config and keys) lives
  // under the bed's dir, maybe under /tmp: moved aside and back over the fresh /tmp.
  lines.push(
    'mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run',
    'mkdir /run/hostbed-dir',
    `mount --bind ${q(b.dir)} /run/hostbed-dir`,
    'mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp',
    `mkdir -p ${q(b.dir)}`,
    `mount --move /run/hostbed-dir ${q(b.dir)}`,
    'rmdir /run/hostbed-dir',
    'mkdir -m 1777 /run/lock',
  );
  // The cgroup hierarchies mounted again from inside the cgroup namespace: their root is then
  // this host's cgroup, not the real machine's. v1 controllers (cpu, memory) are left out:
  // systemd then tracks units without them.
  lines.push('umount -R /sys/fs/cgroup', 'mount -t tmpfs -o mode=0755,nosuid,nodev,noexec tmpfs /sys/fs/cgroup');
  if (cgroupLayout() === 'hybrid') {
    lines.push(
      'mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified',
      'mount -t cgroup -o none,name=systemd,nosuid,nodev,noexec cgroup /sys/fs/cgroup/systemd',
      'mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup/unified',
    );
  } else {
    lines.push('umount /sys/fs/cgroup', 'mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup');
  }
  // Runtime configuration (/run/systemd/...: below /etc, above the distribution's /lib).
  lines.push('mkdir -p /run/systemd/system/multi-user.target.wants /run/systemd/system-generators /run/systemd/journald.conf.d');
  for (const u of maskedUnits()) lines.push(`ln -s /dev/null /run/systemd/system/${u}`);
  for (const g of generators()) lines.push(`ln -s /dev/null /run/systemd/system-generators/${g}`);
  lines.push(`cat > /run/systemd/system/${BED_SSHD_UNIT} <<'UNIT'\n${sshdUnit(b.sshdConfig)}UNIT`);
  lines.push(`ln -s ../${BED_SSHD_UNIT} /run/systemd/system/multi-user.target.wants/${BED_SSHD_UNIT}`);
  // The journal in memory only: /var/log/journal is private, but a bed leaves no log files behind.
  lines.push(`printf '[Journal]\\nStorage=volatile\\nRuntimeMaxUse=16M\\n' > /run/systemd/journald.conf.d/hostbed.conf`);
  // `container=`: systemd skips what a container must not do (udev, hardware); the name is
  // what `systemd-detect-virt` prints there.
  lines.push(
    'exec env -i container=hastack-hostbed PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd --system --log-target=console --show-status=no',
  );
  return lines.join('\n') + '\n';
}
