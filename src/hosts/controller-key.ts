import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { hostStateDir, type Config, type Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { HostSession } from './session.js';
import { forcedCommand, restrictedKeyLine } from './agent-gate.js';
import { authorizedKeysOutcome, authorizedKeysScript, keyBody } from './authorized-keys.js';
import { parseSshTarget } from './ssh.js';

const run = promisify(execFile);

/**
 * `failover.auto` on real hosts: the controller must fence a dead primary's machine itself, over
 * SSH, at 3 a.m., with no operator. `deploy` gives it a key of its own (made here, once per
 * cluster; never the operator's), authorised on every host with a comment naming the cluster,
 * and the host keys the operator's machine already verified (never trust-on-first-use). The key
 * is not root's shell: each host accepts it only from the controller's address and only to run
 * the agent's gate (agent-gate.ts: status, node-down, record-role).
 */
export interface ControllerKeyFiles {
  /** On the controller host: `<hostStateDir>/ssh/id_ed25519` and `known_hosts`. */
  readonly identityFile: string;
  readonly knownHostsFile: string;
}

export function controllerKeyFiles(config: Config): ControllerKeyFiles {
  const dir = path.posix.join(hostStateDir(config), 'ssh');
  return { identityFile: `${dir}/id_ed25519`, knownHostsFile: `${dir}/known_hosts` };
}

/** The topology as the controller uses it to reach the other hosts: with its own key. */
export function controllerTopology(topo: Topology): Topology {
  return { ...topo, config: { ...topo.config, hosts: { ...topo.config.hosts, ...controllerKeyFiles(topo.config) } } };
}

function keyComment(topo: Topology): string {
  return `hastack-${topo.cluster}-controller`;
}

/** The cluster's controller key pair, made on first use under the local state directory. */
async function clusterKey(topo: Topology): Promise<{ privateKey: string; publicKey: string }> {
  const file = path.join(topo.stateDir, 'controller_ed25519');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(topo.stateDir, { recursive: true, mode: 0o700 });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', keyComment(topo), '-f', file]);
  }
  return { privateKey: fs.readFileSync(file, 'utf8'), publicKey: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
}

/** Every host's known_hosts lines, as this machine's known_hosts holds them (verified by the operator). */
export async function knownHostLines(topo: Topology): Promise<string> {
  const known = topo.config.hosts.knownHostsFile ?? path.join(os.homedir(), '.ssh', 'known_hosts');
  const lines: string[] = [];
  for (const n of topo.config.nodes) {
    if (n.ssh === undefined) continue;
    const t = parseSshTarget(n.name, n.ssh);
    // known_hosts names a host on another port `[host]:port`.
    const name = t.port === 22 ? t.host : `[${t.host}]:${t.port}`;
    const r = await run('ssh-keygen', ['-F', name, '-f', known]).catch(() => ({ stdout: '' }));
    const found = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    if (found.length === 0)
      throw new HastackError(
        ErrorCode.SETUP_FAILED,
        `${known} has no key for ${name} (node ${n.name}); the controller needs it to fence that host: add it (ssh-keyscan), then run deploy again`,
      );
    lines.push(...found);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Installs the controller's key (private on each controller host: `controllerNodes`, with the
 * decision quorum every etcd node; public in every host's `~/.ssh/authorized_keys` of the SSH
 * user, accepted from those hosts' addresses only) and its known_hosts. Idempotent: an authorised
 * key is not added twice. Returns the hosts it authorised the key on for the first time.
 */
export async function installControllerKey(topo: Topology, sessions: ReadonlyMap<string, HostSession>, controllers: readonly string[]): Promise<string[]> {
  const key = await clusterKey(topo);
  const files = controllerKeyFiles(topo.config);
  const known = await knownHostLines(topo);
  const from: string[] = [];
  for (const controller of controllers) {
    const ctl = sessions.get(controller);
    const address = topo.nodes.find((n) => n.name === controller)?.address;
    if (!ctl || address === undefined) throw new HastackError(ErrorCode.INTERNAL, `no session for the controller node ${controller}`);
    await ctl.ssh.writeFile(files.identityFile, key.privateKey, 0o600);
    await ctl.ssh.writeFile(files.knownHostsFile, known, 0o644);
    from.push(address);
  }
  const added: string[] = [];
  await Promise.all(
    [...sessions.values()].map(async (s) => {
      const hastackBin = path.posix.join(topo.config.hosts.installDir, 'bin/hastack');
      const line = restrictedKeyLine(key.publicKey, forcedCommand(hastackBin, hostStateDir(topo.config)), from);
      // The restricted line replaces any other line of this key (an unrestricted one from an older deploy).
      const out = await s.ssh.run(authorizedKeysScript(line, { body: keyBody(key.publicKey) }));
      if (authorizedKeysOutcome(out) !== 'present') added.push(s.node);
    }),
  );
  return added;
}
