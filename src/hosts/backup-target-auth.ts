import { execFile } from 'node:child_process';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { archiveNodeOf, controllerNode, substrateTraits, type Topology } from '../config/index.js';
import { backupKeyComment, describeEndpoint, gateFileName, gateScript, PLAIN_WORD, sshConn, sshTargets, type BackupTarget } from '../failover/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { restrictedKeyLine } from './agent-gate.js';
import { authorizedKeysOutcome, authorizedKeysScript, keyBody, type AuthorizedKeysOutcome } from './authorized-keys.js';
import { sshTargetKey } from './backup-key.js';
import { parseSshTarget, shq, SshHost } from './ssh.js';
import { backupNodesOf } from './units.js';

const run = promisify(execFile);

/**
 * The backup key on SSH targets (plain machines in `backup.targets`, no hastack there), authorised
 * by hastack itself instead of by hand: `hastack deploy` on hosts, `hastack backup authorize`
 * anywhere. Over the operator's own SSH (their key or `hosts.identityFile`; the target's host key
 * checked against `hostKey` / `knownHostsFile` as the backups do, never learned), as the target's
 * user: the gate (failover/backup-ssh-gate.ts) is written to `~/.hastack-backup-gate-<cluster>`
 * (0755, that user's), then `~/.ssh/authorized_keys` gets one line for the cluster's backup key,
 *   restrict,from="<senders>",command="<home>/.hastack-backup-gate-<cluster> <dir>/<cluster>" <key> hastack-<cluster>-backup
 * replacing any earlier line of that key or of that cluster (authorized-keys.ts). The senders: on
 * hosts, every database node (they take backups, restore and drill), the archive's node and the
 * admin controller; everywhere, this machine as the target sees it (SSH_CONNECTION of this very
 * connection), where `backup list` and `restore` run. A target this machine cannot reach is no
 * failure: a warning names the line to add by hand, and where, and the gate file to copy.
 */

export interface TargetAuthorization {
  readonly target: string;
  readonly endpoint: string;
  /** What was done (or, in a dry run, would be), or `failed` (then `warning` says why and what to do by hand). */
  readonly outcome: AuthorizedKeysOutcome | 'failed';
  /** The authorized_keys line (the one written, or the one to add by hand). */
  readonly line: string;
  readonly gate: { readonly path: string; readonly written: boolean };
  readonly warning?: string;
}

/** The addresses the backup key is accepted from, besides this machine's: on hosts the database nodes, the archive's node, the admin controller. */
export function backupSenders(topo: Topology): string[] {
  if (!substrateTraits(topo.config).nodesAreMachines) return [];
  const names = [...backupNodesOf(topo), archiveNodeOf(topo), controllerNode(topo.config, topo.nodes).name];
  return [...new Set(names.map((n) => topo.nodes.find((x) => x.name === n)?.address).filter((a): a is string => a !== undefined))];
}

/** The gate's line in authorized_keys. Pure (restrictedKeyLine checks the addresses). */
export function gateKeyLine(topo: Topology, t: BackupTarget, publicKey: string, home: string, from: readonly string[]): string {
  return restrictedKeyLine(publicKey, `${path.posix.join(home, gateFileName(topo.cluster))} ${t.root}`, from);
}

/** Why the target's `dir` cannot hold a gated key for this user, or undefined. Pure. */
export function homeProblem(home: string, root: string): string | undefined {
  if (!PLAIN_WORD.test(home) || !home.startsWith('/')) return `the home directory ${JSON.stringify(home)} is not a plain absolute path (it goes into authorized_keys)`;
  const under = (a: string, b: string): boolean => a === b || a.startsWith(`${b.replace(/\/+$/, '')}/`);
  if (under(home, root) || under(root, `${home}/.ssh`))
    return `the backup directory ${root} and the home directory ${home} overlap: the key could rewrite its own gate or authorized_keys; give the target a dir outside ${home}`;
  return undefined;
}

/** What the target says about itself before anything is written. */
interface Probe {
  readonly home: string;
  /** This machine's address as the target sees it (SSH_CONNECTION); '' when the shell was not reached over SSH. */
  readonly client: string;
  /** The physical paths, symbolic links resolved ('' when absent). */
  readonly homeReal: string;
  readonly rootReal: string;
}

function probeScript(root: string): string {
  return [
    'printf "home=%s\\n" "$HOME"',
    'c=${SSH_CONNECTION:-}; printf "client=%s\\n" "${c%% *}"',
    'printf "homeReal=%s\\n" "$(cd "$HOME" 2>/dev/null && pwd -P)"',
    `printf "rootReal=%s\\n" "$(cd ${shq(root)} 2>/dev/null && pwd -P)"`,
  ].join('\n');
}

function parseProbe(out: string): Probe {
  const v = (k: string): string => new RegExp(`^${k}=(.*)$`, 'm').exec(out)?.[1] ?? '';
  return { home: v('home'), client: v('client'), homeReal: v('homeReal'), rootReal: v('rootReal') };
}

/** The gate file there, written only when it differs (0755; a temporary name, then a rename); prints `gate-written` or `gate-same`. */
function gateInstallScript(gatePath: string, script: string, dryRun: boolean): string {
  const g = shq(gatePath);
  return [
    'umask 022',
    `if printf '%s' ${shq(script)} | cmp -s - ${g}; then echo gate-same; exit 0; fi`,
    dryRun ? 'echo gate-written; exit 0' : `printf '%s' ${shq(script)} > ${g}.hastack-tmp && chmod 755 ${g}.hastack-tmp && mv -f ${g}.hastack-tmp ${g} && echo gate-written`,
  ].join('\n');
}

/** This machine's address toward `host` (the kernel's route), for a line written by hand; undefined when it cannot tell. */
async function addressToward(host: string): Promise<string | undefined> {
  try {
    const ip = net.isIP(host) ? host : (await dns.lookup(host)).address;
    const { stdout } = await run('ip', ['-o', 'route', 'get', ip]);
    return /\bsrc (\S+)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

// A target on a LAN answers in milliseconds, across the world in well under a second.
const CONNECT_TIMEOUT_MS = 10_000;
// Writing two small files there.
const CALL_TIMEOUT_MS = 60_000;

/** The node whose SSH target is this machine and user: its authorized_keys line of the backup key would be replaced by the gate's. */
function sameAsNode(topo: Topology, t: BackupTarget): string | undefined {
  const e = t.ssh;
  if (!e) return undefined;
  return topo.config.nodes.find((n) => {
    if (n.ssh === undefined) return false;
    const s = parseSshTarget(n.name, n.ssh);
    return s.user === e.user && s.host === e.host && s.port === e.port;
  })?.name;
}

async function authorizeOne(topo: Topology, t: BackupTarget, publicKey: string, dryRun: boolean): Promise<TargetAuthorization> {
  const e = t.ssh;
  if (!e) throw new HastackError(ErrorCode.INTERNAL, `backup target ${t.name} is not an SSH target`);
  const endpoint = describeEndpoint(e);
  const senders = backupSenders(topo);
  const homeGuess = e.user === 'root' ? '/root' : `/home/${e.user}`;
  const gatePath = (home: string): string => path.posix.join(home, gateFileName(topo.cluster));
  const byHand = async (why: string): Promise<TargetAuthorization> => {
    const me = await addressToward(e.host);
    const from = me ? [...senders, me] : senders;
    let line: string;
    try {
      line = gateKeyLine(topo, t, publicKey, homeGuess, from);
    } catch {
      line = `restrict,from="<the addresses that send backups: ${from.join(', ') || 'this machine'}>",command="${gatePath(homeGuess)} ${t.root}" ${publicKey.trim()}`;
    }
    const local = path.join(topo.stateDir, 'ssh', gateFileName(topo.cluster));
    if (!dryRun) {
      fs.mkdirSync(path.dirname(local), { recursive: true, mode: 0o700 });
      fs.writeFileSync(local, gateScript(topo.cluster), { mode: 0o755 });
    }
    const warning =
      `backups: the backup key is NOT authorised on SSH target ${t.name} (${endpoint}): ${why}. Backups, restores and drills cannot use it until it is. ` +
      `By hand, as ${e.user} on that machine: copy ${local} to ${gatePath(homeGuess)} (mode 0755; if ${e.user}'s home is elsewhere, use that path here and below), ` +
      `and put this line in ~${e.user}/.ssh/authorized_keys in place of any line ending in ${backupKeyComment(topo.cluster)}: ${line}` +
      (me ? '' : ` (add this machine's address, as that machine sees it, to from=)`);
    return { target: t.name, endpoint, outcome: 'failed', line, gate: { path: gatePath(homeGuess), written: false }, warning };
  };
  const node = sameAsNode(topo, t);
  if (node !== undefined) return byHand(`it is node ${node}'s machine and user, where the key already has the node target's gate: name that node in backup.targets instead`);
  const conn = sshConn(topo, t);
  // The target's host key as the backups check it: its own known_hosts for hostKey, else the given file, else the operator's.
  const knownHostsFile = e.hostKey !== undefined ? conn.knownHosts : (e.knownHostsFile ?? topo.config.hosts.knownHostsFile);
  const ssh = new SshHost(
    { node: t.name, user: e.user, host: e.host, port: e.port },
    {
      ...(topo.config.hosts.identityFile !== undefined ? { identityFile: topo.config.hosts.identityFile } : {}),
      ...(knownHostsFile !== undefined ? { knownHostsFile } : {}),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    },
  );
  try {
    // Through `sh -s`: the user's login shell may be any, the script is POSIX sh.
    const probe = parseProbe(await ssh.run('sh -s', { input: probeScript(t.root), timeoutMs: CALL_TIMEOUT_MS }));
    const problem = homeProblem(probe.home, t.root) ?? (probe.rootReal !== '' ? homeProblem(probe.homeReal || probe.home, probe.rootReal) : undefined);
    if (problem) return await byHand(problem);
    const from = probe.client !== '' ? [...senders, probe.client] : senders;
    const line = gateKeyLine(topo, t, publicKey, probe.home, from);
    const gateOut = await ssh.run('sh -s', { input: gateInstallScript(gatePath(probe.home), gateScript(topo.cluster), dryRun), timeoutMs: CALL_TIMEOUT_MS });
    const keysOut = await ssh.run('sh -s', {
      input: authorizedKeysScript(line, { body: keyBody(publicKey), comment: backupKeyComment(topo.cluster), dryRun }),
      timeoutMs: CALL_TIMEOUT_MS,
    });
    return { target: t.name, endpoint, outcome: authorizedKeysOutcome(keysOut), line, gate: { path: gatePath(probe.home), written: gateOut.trim() === 'gate-written' } };
  } catch (err) {
    return await byHand(
      `this machine could not do it over your SSH as ${e.user} (${err instanceof HastackError ? `${err.code}: ` : ''}${describeError(err).split('\n')[0] ?? ''})`,
    );
  } finally {
    await ssh.close();
  }
}

/**
 * Authorises the backup key on every SSH target (see the header); with `dryRun`, looks and says
 * what it would do. Never throws for a target: its outcome is `failed` with a warning to act on.
 */
export async function authorizeSshTargets(
  topo: Topology,
  o: { readonly dryRun: boolean; readonly say: (message: string, data?: Record<string, unknown>) => void },
): Promise<TargetAuthorization[]> {
  const targets = sshTargets(topo);
  if (targets.length === 0) return [];
  const publicKey = (await sshTargetKey(topo, { create: !o.dryRun })) ?? 'ssh-ed25519 <the backup key, made by the first run> ' + backupKeyComment(topo.cluster);
  const out: TargetAuthorization[] = [];
  for (const t of targets) {
    const a = await authorizeOne(topo, t, publicKey, o.dryRun);
    out.push(a);
    const data = { target: a.target, endpoint: a.endpoint, outcome: a.outcome, gateWritten: a.gate.written, ...(a.warning ? { warning: true } : {}) };
    if (a.warning || a.outcome === 'failed') {
      o.say(a.warning ?? `backups: SSH target ${a.target} not authorised`, data);
      continue;
    }
    const done = { present: 'already in place', added: 'added', replaced: "replaced the cluster's earlier line" }[a.outcome];
    const gate = a.gate.written ? `gate ${a.gate.path} ${o.dryRun ? 'to be written' : 'written'}` : `gate ${a.gate.path} unchanged`;
    o.say(
      `backups: SSH target ${a.target} (${a.endpoint}): the backup key's line ${o.dryRun && a.outcome !== 'present' ? `would be ${a.outcome}` : done}: ${a.line.slice(0, a.line.lastIndexOf('"') + 1)} (${gate})`,
      data,
    );
  }
  return out;
}
