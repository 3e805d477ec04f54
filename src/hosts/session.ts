import path from 'node:path';
import type { z } from 'zod';
import { hostStateDir, installedPackage, type NodeInstance, type Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { SshHost, parseSshTarget, shq, type ExecOptions, type SshTarget } from './ssh.js';

/** ssh's own wait for a TCP connection: a host on the LAN answers in milliseconds. */
const CONNECT_TIMEOUT_MS = 5_000;

/** One host of a `substrate: hosts` cluster, as the deploying machine talks to it. */
export class HostSession {
  readonly node: string;
  readonly target: SshTarget;
  readonly ssh: SshHost;
  /** Absolute path of `node` on the host, once deploy's preflight found it; else the installed wrapper runs. */
  nodeBin: string | undefined;

  constructor(
    readonly topo: Topology,
    node: NodeInstance,
  ) {
    this.node = node.name;
    const spec = topo.config.nodes.find((n) => n.name === node.name)?.ssh;
    if (spec === undefined) throw new HastackError(ErrorCode.CONFIG_INVALID, `node ${node.name} has no "ssh" target; "substrate: hosts" needs one per node`);
    this.target = parseSshTarget(node.name, spec);
    // resolveTopology made both paths absolute (they are relative to the config file).
    const { identityFile, knownHostsFile } = topo.config.hosts;
    this.ssh = new SshHost(this.target, {
      ...(identityFile !== undefined ? { identityFile } : {}),
      ...(knownHostsFile !== undefined ? { knownHostsFile } : {}),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    });
  }

  get label(): string {
    return `${this.target.user}@${this.target.host}:${this.target.port}`;
  }

  /** The command line that runs hastack's CLI on the host (the installed bundle). */
  cli(args: readonly string[]): string {
    // `<installDir>/bin/hastack` knows the host's node (deploy wrote it); deploy itself, which
    // may run before that wrapper exists, names node explicitly.
    const argv =
      this.nodeBin === undefined
        ? [path.posix.join(this.topo.config.hosts.installDir, 'bin/hastack'), ...args]
        : [this.nodeBin, path.posix.join(installedPackage(this.topo.config), 'dist/src/cli/main.js'), ...args];
    return argv.map(shq).join(' ');
  }

  /** `hastack _agent SUB --state <host state dir> ARGS...` on the host. */
  agentCommand(sub: string, args: readonly string[] = []): string {
    return this.cli(['_agent', sub, '--state', hostStateDir(this.topo.config), ...args]);
  }

  agent(sub: string, args: readonly string[] = [], opts?: ExecOptions): Promise<string> {
    return this.ssh.run(this.agentCommand(sub, args), opts);
  }

  agentJson<T>(sub: string, args: readonly string[], schema: z.ZodType<T>, opts?: ExecOptions): Promise<T> {
    return this.ssh.runJson(this.agentCommand(sub, args), schema, opts);
  }
}

/** Runs `fn` with a session to `node`'s host and closes it after. NOT_FOUND names the nodes. */
export async function withHost<T>(topo: Topology, node: string, fn: (s: HostSession) => Promise<T>): Promise<T> {
  const n = topo.nodes.find((x) => x.name === node);
  if (!n) throw new HastackError(ErrorCode.NOT_FOUND, `no node "${node}" in cluster ${topo.cluster}; nodes: ${topo.nodes.map((x) => x.name).join(', ')}`);
  const s = new HostSession(topo, n);
  try {
    return await fn(s);
  } finally {
    await s.ssh.close().catch(() => undefined);
  }
}

export function openSessions(topo: Topology): Map<string, HostSession> {
  return new Map(topo.nodes.map((n) => [n.name, new HostSession(topo, n)]));
}

export async function closeSessions(sessions: ReadonlyMap<string, HostSession>): Promise<void> {
  await Promise.all([...sessions.values()].map((s) => s.ssh.close().catch(() => undefined)));
}
