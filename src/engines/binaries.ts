import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

/** One program (or library) hastack needs from a Debian package, and how to ask its version. */
export interface EngineBinary {
  /** The file looked up in PATH, /usr/sbin and /usr/bin (or the absolute candidates in `paths`). */
  readonly binary: string;
  readonly package: string;
  /** What hastack uses it for, for `hastack doctor`. */
  readonly purpose: string;
  /**
   * Arguments that make the program print its version. Absent: ask dpkg for the package version
   * instead (a library, or a program whose version flag has side effects).
   */
  readonly versionArgs?: readonly string[];
  /** For a library, the absolute places it may be. */
  readonly paths?: readonly string[];
  /** False for what only some configurations need (Galera, rsync). */
  readonly required: boolean;
}

export const ENGINE_BINARIES: readonly EngineBinary[] = [
  { binary: 'redis-server', package: 'redis-server', purpose: 'broker (Redis)', versionArgs: ['--version'], required: true },
  // A separate Debian package from redis-server (a symlink to the same program once installed).
  { binary: 'redis-sentinel', package: 'redis-sentinel', purpose: 'broker failover (Sentinel)', versionArgs: ['--version'], required: true },
  { binary: 'memcached', package: 'memcached', purpose: 'cache', versionArgs: ['-V'], required: true },
  { binary: 'mariadbd', package: 'mariadb-server', purpose: 'database', versionArgs: ['--version'], required: true },
  // No --version: given one, mariadb-install-db goes looking at the default /var/lib/mysql.
  { binary: 'mariadb-install-db', package: 'mariadb-server', purpose: 'creates a database node\'s datadir', required: true },
  { binary: 'mariadb', package: 'mariadb-client', purpose: 'operator shell into a database node', versionArgs: ['--version'], required: false },
  { binary: 'mariabackup', package: 'mariadb-backup', purpose: 'backups, replica rebuilds, Galera state transfer', versionArgs: ['--version'], required: true },
  {
    binary: 'libgalera_smm.so',
    package: 'galera-4',
    purpose: 'database.mode: galera',
    paths: ['/usr/lib/galera/libgalera_smm.so', '/usr/lib/libgalera_smm.so', '/usr/lib/x86_64-linux-gnu/galera/libgalera_smm.so'],
    required: false,
  },
  // wsrep_sst_mariabackup streams the backup between donor and joiner through socat.
  { binary: 'socat', package: 'socat', purpose: 'database.mode: galera (state transfer stream)', versionArgs: ['-V'], required: false },
  { binary: 'rsync', package: 'rsync', purpose: 'crash plan file copies', versionArgs: ['--version'], required: false },
  // Only `substrate: hosts` with `lb.vip`: VRRP moves the floating address between load balancers.
  { binary: 'keepalived', package: 'keepalived', purpose: 'lb.vip on real hosts (floating address)', versionArgs: ['--version'], required: false },
];

/** Where the cluster's nodes live (config `substrate`); each needs its own tools beside the engines. */
export type SubstrateName = 'local' | 'netns' | 'hosts';

/**
 * The tools a substrate needs on the machine that runs hastack, beside the engines: `doctor`
 * checks them for the configured substrate, and the test suite needs every one.
 */
export const SUBSTRATE_TOOLS: Readonly<Record<SubstrateName, readonly EngineBinary[]>> = {
  local: [],
  netns: [
    // Partitions and the per-node firewall are iptables rule sets loaded inside each namespace.
    // Not installed on a fresh Debian machine (ENGINE-NOTES, "Fresh machine").
    { binary: 'iptables-restore', package: 'iptables', purpose: 'netns: partitions and per-node firewall', versionArgs: ['--version'], required: true },
    { binary: 'nsenter', package: 'util-linux', purpose: 'netns: run a service inside its node\'s namespace', versionArgs: ['--version'], required: true },
    { binary: 'ip', package: 'iproute2', purpose: 'netns: namespaces, bridge and veth links', versionArgs: ['-V'], required: true },
  ],
  hosts: [
    { binary: 'ssh', package: 'openssh-client', purpose: 'hosts: reach every host (deploy, agents, logs)', versionArgs: ['-V'], required: true },
    { binary: 'ssh-keygen', package: 'openssh-client', purpose: 'hosts: the controller\'s own key, host key checks', required: true },
    // database.tls (on by default for hosts): deploy makes the cluster's CA and node certificates here.
    { binary: 'openssl', package: 'openssl', purpose: 'hosts: the cluster CA for database.tls', versionArgs: ['version'], required: true },
  ],
};

/**
 * What only the test suite needs, beyond the engines and every substrate's tools. Add here what a
 * new test needs from Debian: `npm test`, `.ci/run` and `hastack setup --tests` all read this list.
 */
export const TEST_ONLY_TOOLS: readonly EngineBinary[] = [
  // The dashboard's end-to-end test drives Debian's chromium through playwright-core (never a
  // downloaded browser); fonts-liberation is its recommended font, which --no-install-recommends skips.
  { binary: 'chromium', package: 'chromium', purpose: 'tests: the dashboard end to end', versionArgs: ['--version'], required: true },
  {
    binary: 'LiberationSans-Regular.ttf',
    package: 'fonts-liberation',
    purpose: 'tests: a font for chromium',
    paths: ['/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf'],
    required: true,
  },
  // The host bed runs an sshd per namespace "host" (the binary only; never the system's sshd).
  { binary: 'sshd', package: 'openssh-server', purpose: 'tests: the namespace host bed', required: true },
  { binary: 'ps', package: 'procps', purpose: 'tests: which user and pid a service runs as', versionArgs: ['--version'], required: true },
  { binary: 'curl', package: 'curl', purpose: 'tests: black-box HTTP checks', versionArgs: ['--version'], required: true },
];

/** Every program the test suite needs, each once, all required. */
export function testSuiteBinaries(): EngineBinary[] {
  const all = [...ENGINE_BINARIES, ...SUBSTRATE_TOOLS.netns, ...SUBSTRATE_TOOLS.hosts, ...TEST_ONLY_TOOLS];
  const seen = new Set<string>();
  return all.filter((b) => !seen.has(b.binary) && seen.add(b.binary)).map((b) => ({ ...b, required: true }));
}

export interface EngineCheck {
  readonly binary: string;
  readonly package: string;
  readonly purpose: string;
  readonly required: boolean;
  readonly found: boolean;
  readonly path?: string;
  readonly version?: string;
}

/** The dotted version number in a program's version banner (first one found). Pure. */
export function parseVersion(text: string): string | undefined {
  // "Redis server v=7.0.15 ...", "memcached 1.6.18", "mariadbd  Ver 10.11.19-MariaDB...",
  // "mariabackup based on MariaDB server 10.11.19-MariaDB", "rsync  version 3.2.7".
  // mariadb's client banner says "Ver 15.1 Distrib 10.11.19": the Distrib number is the one that matters.
  const distrib = /Distrib\s+(\d+\.\d+(?:\.\d+)?)/.exec(text);
  if (distrib?.[1]) return distrib[1];
  const m = /(?:^|[^\d.])(\d+\.\d+(?:\.\d+)?)/.exec(text);
  return m?.[1];
}

const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function findBinary(b: EngineBinary): string | undefined {
  if (b.paths) return b.paths.find((p) => fs.existsSync(p));
  // Daemons live in /usr/sbin, which a non-root PATH often lacks.
  // HASTACK_ENGINE_SEARCH_PATH replaces the search (tests use it to play a machine without engines).
  const override = process.env.HASTACK_ENGINE_SEARCH_PATH;
  const dirs =
    override !== undefined
      ? override.split(path.delimiter).filter((d) => d !== '')
      : [...(process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''), ...SEARCH_DIRS];
  for (const d of dirs) {
    const p = path.join(d, b.binary);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

// A version banner prints in milliseconds; 5 s only stops a wedged program from hanging `doctor`.
const VERSION_TIMEOUT_MS = 5000;

function readVersion(b: EngineBinary, file: string): string | undefined {
  const r = b.versionArgs
    ? spawnSync(file, [...b.versionArgs], { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS })
    : spawnSync('dpkg-query', ['-W', '-f=${Version}', b.package], { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS });
  if (r.error) return undefined;
  // mariabackup prints its banner on stderr.
  return parseVersion(`${r.stdout ?? ''}\n${r.stderr ?? ''}`);
}

/** Looks for each program (every engine by default) and reads its version (for `hastack doctor`). */
export function checkEngines(list: readonly EngineBinary[] = ENGINE_BINARIES): EngineCheck[] {
  return list.map((b) => {
    const found = findBinary(b);
    const base = { binary: b.binary, package: b.package, purpose: b.purpose, required: b.required };
    if (!found) return { ...base, found: false };
    const version = readVersion(b, found);
    return { ...base, found: true, path: found, ...(version ? { version } : {}) };
  });
}
