import type { EngineBinary } from '../registry/index.js';
import { shq } from '../hosts/index.js';
import type { HostNeeds } from './needs.js';

/**
 * `deploy`'s look at one host before it changes anything: one shell script over SSH that prints
 * `key=value` lines, parsed and judged here (pure, so every verdict has a unit test).
 */
export interface HostFacts {
  /** `/etc/os-release` ID and VERSION_ID, e.g. `debian 12`. */
  readonly os: string;
  readonly uid: number;
  /** Absolute path of `node`, or '' when absent. */
  readonly nodeBin: string;
  readonly nodeVersion: string;
  /** `comm` of PID 1: `systemd` when systemd runs the machine. */
  readonly pid1: string;
  readonly systemd: boolean;
  readonly aptGet: boolean;
  /** The host's clock in ms since the epoch, when it printed it. */
  readonly clockMs: number;
  /** Binary name → its path on the host ('' when missing). */
  readonly binaries: ReadonlyMap<string, string>;
  /** Packages of `HostNeeds.packages` installed (dpkg says `ii`). */
  readonly packages: ReadonlySet<string>;
  /** Missing packages apt has a candidate version of (so `apt-get install` can get them). */
  readonly installable: ReadonlySet<string>;
  /** `addr:port` of every listening TCP socket (`ss -ltnH` column 4). */
  readonly listening: readonly string[];
  /** The stamp of the hastack bundle installed under installDir ('' when none). */
  readonly bundleStamp: string;
}

/** Where a binary may be on a Debian host: PATH, or sbin dirs a non-login ssh shell may lack. */
function findCommand(b: EngineBinary): string {
  if (b.paths) return `p=''; for f in ${b.paths.map(shq).join(' ')}; do [ -e "$f" ] && p="$f" && break; done`;
  return `p=$(command -v ${shq(b.binary)} 2>/dev/null || { [ -x /usr/sbin/${b.binary} ] && echo /usr/sbin/${b.binary}; } || true)`;
}

/** `installed`: the installed package (`<installDir>/current`), whose stamp file says which bundle it is. */
/** Prints `apt.<package>=yes` when apt knows a version of the package it could install. */
function candidate(pkg: string): string {
  return `{ apt-cache policy ${shq(pkg)} 2>/dev/null | grep -q 'Candidate: [0-9]' && echo "apt.${pkg}=yes"; true; }`;
}

export function preflightScript(needs: HostNeeds, installed: string, bundleFile: string): string {
  const lines = [
    'export LC_ALL=C PATH="$PATH:/usr/sbin:/sbin:/usr/local/bin"',
    '. /etc/os-release 2>/dev/null; echo "os=${ID:-unknown} ${VERSION_ID:-}"',
    'echo "uid=$(id -u)"',
    'n=$(command -v node 2>/dev/null || true); echo "node=$n"',
    '[ -n "$n" ] && echo "nodeVersion=$("$n" --version 2>/dev/null)"',
    'echo "pid1=$(cat /proc/1/comm 2>/dev/null)"',
    '[ -d /run/systemd/system ] && echo systemd=yes || echo systemd=no',
    'command -v apt-get >/dev/null 2>&1 && echo apt=yes || echo apt=no',
    ...needs.binaries.map((b) => `${findCommand(b)}; echo "bin.${b.binary}=$p"; [ -n "$p" ] || ${candidate(b.package)}`),
    ...needs.packages.map((p) => `if dpkg-query -W -f='\${db:Status-Abbrev}' ${shq(p)} 2>/dev/null | grep -q '^ii'; then echo "pkg.${p}=yes"; else ${candidate(p)}; fi`),
    `echo "stamp=$(cat ${shq(`${installed}/${bundleFile}`)} 2>/dev/null)"`,
    'ss -ltnH 2>/dev/null | awk \'{print "listen=" $4}\'',
    // Last, so the clock is read as close as possible to the moment the answer comes back.
    'echo "clock=$(date +%s%3N)"',
  ];
  return lines.join('\n');
}

export function parseFacts(text: string): HostFacts {
  const binaries = new Map<string, string>();
  const packages = new Set<string>();
  const installable = new Set<string>();
  const listening: string[] = [];
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1).trim();
    if (k.startsWith('bin.')) binaries.set(k.slice(4), v);
    else if (k.startsWith('apt.')) installable.add(k.slice(4));
    else if (k.startsWith('pkg.')) packages.add(k.slice(4));
    else if (k === 'listen') listening.push(v);
    else kv.set(k, v);
  }
  return {
    os: kv.get('os') ?? 'unknown',
    uid: Number(kv.get('uid') ?? -1),
    nodeBin: kv.get('node') ?? '',
    nodeVersion: kv.get('nodeVersion') ?? '',
    pid1: kv.get('pid1') ?? '',
    systemd: kv.get('systemd') === 'yes',
    aptGet: kv.get('apt') === 'yes',
    clockMs: Number(kv.get('clock') ?? NaN),
    binaries,
    packages,
    installable,
    listening,
    bundleStamp: kv.get('stamp') ?? '',
  };
}

export interface Verdict {
  /** `error`: deploy refuses to touch any host; `warn`: printed, deploy goes on. */
  readonly level: 'error' | 'warn';
  readonly message: string;
}

export interface JudgeInput {
  readonly needs: HostNeeds;
  readonly facts: HostFacts;
  /** `user@host:port`, for messages. */
  readonly target: string;
  /** The deploying machine's clock before and after the script ran. */
  readonly sentAtMs: number;
  readonly receivedAtMs: number;
  readonly maxClockSkewMs: number;
  /** Ports whose unit is already running: ours, not a conflict. */
  readonly ownPorts: ReadonlySet<number>;
}

/** Missing Debian packages of a host (one per package, even when several binaries come from it). */
export function missingPackages(needs: HostNeeds, facts: HostFacts): string[] {
  const miss = new Set<string>();
  for (const b of needs.binaries) if ((facts.binaries.get(b.binary) ?? '') === '') miss.add(b.package);
  for (const p of needs.packages) if (!facts.packages.has(p)) miss.add(p);
  return [...miss];
}

function listensOn(entry: string, address: string, port: number): boolean {
  const i = entry.lastIndexOf(':');
  if (i < 0 || Number(entry.slice(i + 1)) !== port) return false;
  const a = entry
    .slice(0, i)
    .replace(/^\[|\]$/g, '')
    .replace(/%.*$/, '');
  return a === address || a === '0.0.0.0' || a === '*' || a === '::';
}

/** Every reason this host cannot take the deploy (or should worry the operator). Pure. */
export function judgeHost(j: JudgeInput): Verdict[] {
  const { facts, needs } = j;
  const out: Verdict[] = [];
  const host = `host ${needs.node} (${j.target})`;
  if (!/^(debian|ubuntu) /.test(facts.os)) {
    out.push({ level: 'warn', message: `${host} runs ${facts.os}; hastack is tested on Debian 12 and Ubuntu: engine packages and paths may differ` });
  }
  if (facts.uid !== 0) {
    out.push({ level: 'error', message: `${host}: deploy logs in as uid ${facts.uid}; it installs packages and units and needs root: use root@ in nodes[].ssh (key-based)` });
  }
  const major = Number(/^v(\d+)/.exec(facts.nodeVersion)?.[1] ?? 0);
  if (facts.nodeBin === '') {
    out.push({
      level: 'error',
      message: `${host} has no Node.js: install Node.js 20 there (https://deb.nodesource.com, or the nodejs package of a release that has 20), then run deploy again`,
    });
  } else if (major < 20) {
    out.push({
      level: 'error',
      message: `${host} has Node.js ${facts.nodeVersion || '(unknown version)'} at ${facts.nodeBin}; hastack needs 20 or newer: upgrade it, then run deploy again`,
    });
  }
  const missing = missingPackages(needs, facts);
  if (missing.length > 0 && !facts.aptGet) {
    out.push({ level: 'error', message: `${host} lacks ${missing.join(', ')} and has no apt-get to install them: install them by hand, then run deploy again` });
  } else {
    const unknown = missing.filter((p) => !facts.installable.has(p));
    if (unknown.length > 0) {
      out.push({
        level: 'error',
        message: `${host} lacks ${unknown.join(', ')} and apt has no candidate for ${unknown.length === 1 ? 'it' : 'them'}: run "apt-get update" there (or add the Debian repository that has ${unknown.length === 1 ? 'it' : 'them'}), then run deploy again`,
      });
    }
  }
  for (const l of needs.listens) {
    if (j.ownPorts.has(l.port)) continue;
    const by = facts.listening.find((e) => listensOn(e, l.address, l.port));
    if (by !== undefined) {
      out.push({
        level: 'error',
        message: `${host}: port ${l.port} (for ${l.id}) is already taken by another program listening on ${by}; stop it, or give ${l.id.split('/')[1]} another port under "ports:" in hastack.yaml`,
      });
    }
  }
  if (Number.isFinite(facts.clockMs)) {
    // The host read its clock somewhere between our send and our receive: judge only the part of
    // the difference that this uncertainty cannot explain.
    const mid = (j.sentAtMs + j.receivedAtMs) / 2;
    const skew = facts.clockMs - mid;
    const slack = (j.receivedAtMs - j.sentAtMs) / 2;
    if (Math.abs(skew) - slack > j.maxClockSkewMs) {
      out.push({
        level: 'error',
        message: `${host}: its clock is ${(Math.abs(skew) / 1000).toFixed(1)} s ${skew > 0 ? 'ahead of' : 'behind'} this machine's (at most ${j.maxClockSkewMs} ms allowed: hosts.maxClockSkewMs); turn on time sync there (apt-get install systemd-timesyncd, or chrony), then run deploy again`,
      });
    }
  } else {
    out.push({ level: 'warn', message: `${host}: could not read its clock` });
  }
  return out;
}
