import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { promisify } from 'node:util';
import type { ServiceInstance, Topology } from '../config/index.js';
import type { ProcessSpec } from '../registry/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { HOST, dropRules, type Link } from './links.js';
import { LocalSubstrate } from './local.js';
import type { NetworkFaults, RunningProcess, Substrate } from './types.js';

const run = promisify(execFile);
/** `ip` and `iptables` answer in milliseconds; 10 s means the kernel or a lock is stuck. */
const CMD_TIMEOUT_MS = 10_000;
const NETNS_DIR = '/run/netns';

export interface NetnsNames {
  /** `hs-<cluster>-<node>`, one per node. */
  readonly namespaceOf: (node: string) => string;
  /** `hsb-<hash>`: interface names are at most 15 characters, too short for the cluster's name. */
  readonly bridge: string;
  /** `hsv-<hash>-<i>`: the host's end of node i's veth pair (the node's end is `eth0`). */
  readonly vethOf: (index: number) => string;
  /** The prefix every veth of this cluster starts with (cleanup finds them by it). */
  readonly vethPrefix: string;
}

/** Names of everything the netns substrate creates for a cluster. Pure. */
export function netnsNames(cluster: string): NetnsNames {
  const hash = createHash('sha1').update(cluster).digest('hex').slice(0, 6);
  return {
    namespaceOf: (node) => `hs-${cluster}-${node}`,
    bridge: `hsb-${hash}`,
    vethOf: (i) => `hsv-${hash}-${i}`,
    vethPrefix: `hsv-${hash}-`,
  };
}

/**
 * `netns`: every node is a network namespace with its own address on a bridge hastack creates on
 * the host, so partitions can be real (packets dropped between namespaces). The host keeps
 * `<netns.addressBase>.254` on the bridge: the supervisor, the CLI and the chaos clients run in
 * the host's namespace and reach every node through it. Processes are started with `nsenter`,
 * which enters the namespace and then execs the service: the pid recorded is the service's own,
 * and process groups, kill and pause behave exactly as on `local`.
 */
export class NetnsSubstrate implements Substrate, NetworkFaults {
  readonly name = 'netns';
  readonly network: NetworkFaults = this;
  private readonly local = new LocalSubstrate();
  private readonly names: NetnsNames;
  private readonly addresses: Map<string, string>;
  private readonly hostAddress: string;
  /** Nodes whose namespace carries drop rules now: a heal has to flush them. */
  private ruled = new Set<string>();

  constructor(private readonly topo: Topology) {
    this.names = netnsNames(topo.cluster);
    this.addresses = new Map(topo.nodes.map((n) => [n.name, n.address]));
    this.hostAddress = `${topo.config.netns.addressBase}.254`;
  }

  spawn(svc: ServiceInstance, spec: ProcessSpec, logFile: string): RunningProcess {
    // The supervisor's own helpers (migrations) belong to no node: they run on the host.
    if (!this.addresses.has(svc.node)) return this.local.spawn(svc, spec, logFile);
    const wrapped: ProcessSpec = {
      ...spec,
      command: 'nsenter',
      args: [`--net=${NETNS_DIR}/${this.names.namespaceOf(svc.node)}`, '--', spec.command, ...spec.args],
    };
    return this.local.spawn(svc, wrapped, logFile);
  }

  signal(pid: number, sig: NodeJS.Signals): void {
    this.local.signal(pid, sig);
  }

  isAlive(pid: number): boolean {
    return this.local.isAlive(pid);
  }

  async prepare(): Promise<void> {
    if (process.getuid?.() !== 0) {
      throw new HastackError(ErrorCode.SETUP_FAILED, 'the netns substrate creates network namespaces and needs root: run hastack as root, or use "substrate: local"');
    }
    await this.release();
    await this.checkRangeFree();
    const { bridge } = this.names;
    const prefix = `${this.topo.config.netns.addressBase}`;
    try {
      await ip('link', 'add', bridge, 'type', 'bridge');
      await ip('link', 'set', 'dev', bridge, 'alias', `hastack cluster ${this.topo.cluster}`);
      await ip('addr', 'add', `${this.hostAddress}/24`, 'dev', bridge);
      await ip('link', 'set', bridge, 'up');
      for (const [i, node] of this.topo.nodes.entries()) {
        const ns = this.names.namespaceOf(node.name);
        const veth = this.names.vethOf(i + 1);
        await ip('netns', 'add', ns);
        await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
        await ip('link', 'set', 'dev', veth, 'alias', `hastack ${this.topo.cluster}/${node.name}`);
        await ip('link', 'set', veth, 'master', bridge, 'up');
        await ip('-n', ns, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0');
        await ip('-n', ns, 'link', 'set', 'eth0', 'up');
        // Services bind their node address, but some tools (and engines' own helpers) use lo.
        await ip('-n', ns, 'link', 'set', 'lo', 'up');
      }
    } catch (e) {
      await this.release().catch(() => undefined);
      throw new HastackError(
        ErrorCode.SETUP_FAILED,
        `creating the network namespaces of cluster ${this.topo.cluster} on ${prefix}.0/24 failed (${describeError(e)}); check that "ip netns" works here (Linux, root, iproute2 installed)`,
      );
    }
  }

  /**
   * Deletes this cluster's namespaces, veths and bridge, whatever is left of them. Idempotent.
   * A process still inside one of them (a crashed hastack's, its pid record lost) is killed
   * first: everything in `hs-<cluster>-<node>` was started by hastack for this cluster, and a
   * namespace with a process in it outlives `ip netns del`.
   */
  async release(): Promise<void> {
    const existing = new Set(listNamespaces());
    for (const node of this.topo.nodes) {
      const ns = this.names.namespaceOf(node.name);
      if (!existing.has(ns)) continue;
      const { stdout } = await ip('netns', 'pids', ns).catch(() => ({ stdout: '' }));
      for (const pid of stdout
        .split('\n')
        .map(Number)
        .filter((p) => p > 0))
        this.local.signal(pid, 'SIGKILL');
    }
    for (const node of this.topo.nodes) {
      const ns = this.names.namespaceOf(node.name);
      // Deleting a namespace deletes the node's end of its veth, and with it the host's end.
      if (existing.has(ns)) await ip('netns', 'del', ns).catch(() => undefined);
    }
    const links = await hostLinks();
    for (const l of links.filter((x) => x.startsWith(this.names.vethPrefix))) await ip('link', 'del', l).catch(() => undefined);
    if (links.includes(this.names.bridge)) await ip('link', 'del', this.names.bridge).catch(() => undefined);
    this.ruled.clear();
  }

  /** What `release` would remove that still exists (the tests check that nothing is left). */
  async leftovers(): Promise<string[]> {
    const mine = new Set(this.topo.nodes.map((n) => this.names.namespaceOf(n.name)));
    const links = (await hostLinks()).filter((l) => l === this.names.bridge || l.startsWith(this.names.vethPrefix));
    return [...listNamespaces().filter((n) => mine.has(n)), ...links];
  }

  async setCutLinks(links: readonly Link[]): Promise<void> {
    const addressOf = (p: string): string => {
      if (p === HOST) return this.hostAddress;
      const a = this.addresses.get(p);
      if (a === undefined) throw new HastackError(ErrorCode.NOT_FOUND, `no node "${p}" in cluster ${this.topo.cluster}`);
      return a;
    };
    const rules = dropRules(links, addressOf);
    const touched = new Set([...this.ruled, ...rules.keys()]);
    for (const node of touched) {
      // iptables-restore replaces the node's whole filter table at once: the rules hastack wants,
      // nothing else, and no moment where half a partition is in place.
      const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
      for (const src of rules.get(node) ?? []) lines.push(`-A INPUT -s ${src}/32 -m comment --comment hastack-partition -j DROP`);
      lines.push('COMMIT', '');
      await inNamespace(this.names.namespaceOf(node), 'iptables-restore', [], lines.join('\n'));
    }
    this.ruled = new Set(rules.keys());
  }

  /** The range must be ours alone: an address of it on another interface would shadow the bridge. */
  private async checkRangeFree(): Promise<void> {
    const prefix = `${this.topo.config.netns.addressBase}.`;
    const { stdout } = await ip('-4', '-o', 'addr', 'show');
    for (const line of stdout.split('\n')) {
      const m = /^\d+:\s+(\S+)\s+inet\s+(\S+)/.exec(line);
      if (m?.[2]?.startsWith(prefix)) {
        throw new HastackError(
          ErrorCode.SETUP_FAILED,
          `${m[2]} on interface ${m[1]} is inside netns.addressBase ${this.topo.config.netns.addressBase}.0/24; choose another netns.addressBase for cluster ${this.topo.cluster}`,
        );
      }
    }
  }
}

async function ip(...args: string[]): Promise<{ stdout: string }> {
  try {
    return await run('ip', args, { timeout: CMD_TIMEOUT_MS });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new HastackError(ErrorCode.SETUP_FAILED, 'the "ip" command is missing: apt-get install iproute2');
    throw new HastackError(ErrorCode.SETUP_FAILED, `ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}

function inNamespace(ns: string, command: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('nsenter', [`--net=${NETNS_DIR}/${ns}`, '--', command, ...args], { timeout: CMD_TIMEOUT_MS }, (e, _out, stderr) => {
      if (!e) return resolve();
      const hint = (e as NodeJS.ErrnoException).code === 'ENOENT' ? ' (is iptables installed? apt-get install iptables)' : '';
      reject(new HastackError(ErrorCode.SETUP_FAILED, `${command} in namespace ${ns} failed: ${String(stderr || e.message).trim()}${hint}`));
    });
    child.stdin?.end(input);
  });
}

/** Names of the network namespaces `ip netns` knows (the test bed uses it too). */
export function listNamespaces(): string[] {
  try {
    return fs.readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

/** Names of the host's network interfaces. */
export async function hostLinks(): Promise<string[]> {
  const { stdout } = await ip('-o', 'link', 'show');
  // "12: hsv-abc123-1@if2: <...>": the name, without the peer suffix.
  return stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}
