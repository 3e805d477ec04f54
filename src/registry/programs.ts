import type { Config } from '../config/index.js';

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
  /** False for what only some configurations need (Galera, rsync): `doctor` does not fail on it. */
  readonly required: boolean;
}

/** Where the cluster's nodes live (config `substrate`); each needs its own tools beside the engines. */
export type SubstrateName = Config['substrate'];

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
    { binary: 'nsenter', package: 'util-linux', purpose: "netns: run a service inside its node's namespace", versionArgs: ['--version'], required: true },
    { binary: 'ip', package: 'iproute2', purpose: 'netns: namespaces, bridge and veth links', versionArgs: ['-V'], required: true },
  ],
  hosts: [
    { binary: 'ssh', package: 'openssh-client', purpose: 'hosts: reach every host (deploy, agents, logs)', versionArgs: ['-V'], required: true },
    { binary: 'ssh-keygen', package: 'openssh-client', purpose: "hosts: the controller's own key, host key checks", required: true },
    // database.tls (on by default for hosts): deploy makes the cluster's CA and node certificates here.
    { binary: 'openssl', package: 'openssl', purpose: 'hosts: the cluster CA for database.tls', versionArgs: ['version'], required: true },
  ],
};

/**
 * What a host of `substrate: hosts` needs beside its services' programs: the package of the
 * firewall that closes memcached's and Galera's ports to strangers (src/hosts/firewall.ts), when
 * the host has such a port. Checked as a package (dpkg), like keepalived.
 */
export const HOST_FIREWALL_PACKAGE = 'iptables';

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
  // The host bed runs an sshd per namespace "host", backup-ssh-target.side one as the SSH backup
  // target (the binary only; never the system's sshd).
  { binary: 'sshd', package: 'openssh-server', purpose: 'tests: the namespace host bed, the SSH backup target', required: true },
  { binary: 'ps', package: 'procps', purpose: 'tests: which user and pid a service runs as', versionArgs: ['--version'], required: true },
  { binary: 'curl', package: 'curl', purpose: 'tests: black-box HTTP checks', versionArgs: ['--version'], required: true },
  // Let's Encrypt's ACME test server: the lb.tls.acme test orders and renews through it (no version flag).
  { binary: 'pebble', package: 'pebble', purpose: 'tests: a real ACME server for lb.tls.acme', required: true },
  // The Python example (examples/python, its `app.packages`): its tests run it under gunicorn with
  // Debian's own Python libraries. A unit test keeps this list and the example's in step.
  { binary: 'gunicorn', package: 'gunicorn', purpose: 'tests: the Python example (WSGI server)', versionArgs: ['--version'], required: true },
  ...(['pymysql', 'redis', 'pymemcache'] as const).map((lib) => ({
    binary: `${lib}/__init__.py`,
    package: `python3-${lib}`,
    purpose: 'tests: the Python example (a library it imports)',
    paths: [`/usr/lib/python3/dist-packages/${lib}/__init__.py`],
    required: true,
  })),
];
