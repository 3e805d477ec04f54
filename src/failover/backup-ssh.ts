import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/files.js';
import { classifySshFailure } from '../shared/ssh-words.js';
import { GATE_REFUSED_EXIT, PLAIN_WORD } from './backup-ssh-gate.js';
import type { BackupTarget, SshEndpoint } from './backup-targets.js';

/*
 * How this machine reaches an SSH backup target (`backup.targets: [{ name, ssh, dir }]`): a plain
 * Linux machine with sshd and rsync and no hastack on it. Only the backup key is offered
 * (`<state>/ssh/backup_ed25519`, 0600: on hosts the key deploy already put on every database node,
 * elsewhere made here on first use); `BatchMode=yes`, so nothing ever waits for a prompt; and
 * `StrictHostKeyChecking=yes` against the key the operator gave (`hostKey`, written to a
 * known_hosts file of this target alone, the system-wide one ignored), or their known_hosts file,
 * else ssh's default. A host key that is unknown or changed is refused, never learned on first
 * use: a machine in between would otherwise receive every backup. No secret is in any argument:
 * the key is a file named by path, and backups leave sealed when backup.keyFile is set. There, the
 * key reaches nothing but hastack's gate (backup-ssh-gate.ts): every request is one of its verbs or
 * rsync's far side, in plain words (`sshCall`), confined to the target's `dir/<cluster>`.
 */

const run = promisify(execFile);

// A target that does not answer within 10 s is down or cut off: the step fails and says so
// instead of hanging. Keepalives: 15 s × 4 unanswered = a vanished machine fails in a minute.
const CONNECT_TIMEOUT_S = 10;
const SERVER_ALIVE_INTERVAL_S = 15;
const SERVER_ALIVE_COUNT_MAX = 4;
/** ssh's exit status for its own failures (the remote command's status otherwise). */
const SSH_FAILED_EXIT = 255;
/** A shell's exit status for a command it cannot find. */
const SHELL_NOT_FOUND_EXIT = 127;

/** One SSH target, ready to use: ssh's options (no destination) and `user@host`. */
export interface SshConn {
  readonly name: string;
  readonly endpoint: SshEndpoint;
  readonly identityFile: string;
  /** `ssh` and its options, without the destination (also rsync's `-e`, joined by blanks). */
  readonly ssh: readonly string[];
  readonly destination: string;
  /** Where its host key is checked, for messages. */
  readonly knownHosts: string;
}

/** The backup key: the same file the hosts' deploy installs on every database node (src/hosts/backup-key.ts). */
export function backupIdentityFile(topo: Topology): string {
  return path.join(topo.stateDir, 'ssh', 'backup_ed25519');
}

/** rsync splits `-e` on blanks and the target's gate reads these paths: only plain characters. */
function plainPath(p: string, what: string): string {
  if (!PLAIN_WORD.test(p)) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `${what} ${p} has blanks or quotes; an SSH backup target needs plain paths (move the state directory)`);
  }
  return p;
}

/** Makes the backup key (ed25519, 0600) when this machine has none yet; returns its path. */
export async function ensureBackupIdentity(topo: Topology): Promise<string> {
  const file = backupIdentityFile(topo);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `hastack-${topo.cluster}-backup`, '-f', file]);
  }
  fs.chmodSync(file, 0o600);
  return file;
}

/** How known_hosts names a host: plain on port 22, "[host]:port" otherwise. Pure. */
export function knownHostsName(e: Pick<SshEndpoint, 'host' | 'port'>): string {
  return e.port === 22 ? e.host : `[${e.host}]:${e.port}`;
}

/** `user@host:port`, for messages. */
export function describeEndpoint(e: Pick<SshEndpoint, 'user' | 'host' | 'port'>): string {
  return `${e.user}@${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

/** The ssh options for one target. Pure but for the known_hosts file of a `hostKey`, (re)written here. */
export function sshConn(topo: Topology, t: BackupTarget): SshConn {
  const e = t.ssh;
  if (!e) throw new HastackError(ErrorCode.INTERNAL, `backup target ${t.name} is not an SSH target`);
  const identityFile = plainPath(backupIdentityFile(topo), 'the backup key');
  let knownHosts = e.knownHostsFile ?? '~/.ssh/known_hosts';
  const o = (kv: string): string[] => ['-o', kv];
  const hostKeyOpts: string[] = [];
  if (e.hostKey !== undefined) {
    knownHosts = plainPath(path.join(topo.stateDir, 'ssh', `known_hosts-${t.name}`), 'the known_hosts file');
    fs.mkdirSync(path.dirname(knownHosts), { recursive: true, mode: 0o700 });
    writeFileAtomic(knownHosts, `${knownHostsName(e)} ${e.hostKey}\n`, 0o600);
    // Only the configured key: the system-wide list could hold an older one for the same name.
    hostKeyOpts.push(...o(`UserKnownHostsFile=${knownHosts}`), ...o('GlobalKnownHostsFile=/dev/null'));
  } else if (e.knownHostsFile !== undefined) {
    hostKeyOpts.push(...o(`UserKnownHostsFile=${plainPath(e.knownHostsFile, 'knownHostsFile')}`));
  }
  const ssh = [
    'ssh',
    '-i',
    identityFile,
    ...o('IdentitiesOnly=yes'),
    // Never ask a question (there is no one to answer), never learn a host key on the way.
    ...o('BatchMode=yes'),
    ...o('StrictHostKeyChecking=yes'),
    ...hostKeyOpts,
    ...o(`ConnectTimeout=${CONNECT_TIMEOUT_S}`),
    ...o(`ServerAliveInterval=${SERVER_ALIVE_INTERVAL_S}`),
    ...o(`ServerAliveCountMax=${SERVER_ALIVE_COUNT_MAX}`),
    ...o('LogLevel=ERROR'),
    '-p',
    String(e.port),
  ];
  return { name: t.name, endpoint: e, identityFile, ssh, destination: `${e.user}@${e.host.includes(':') ? `[${e.host}]` : e.host}`, knownHosts };
}

/** The typed error for ssh's own failure (exit 255), saying what to do; undefined when stderr names none. */
export function sshTargetError(c: SshConn, stderr: string): HastackError | undefined {
  const kind = classifySshFailure(stderr);
  if (!kind) return undefined;
  const e = c.endpoint;
  const who = `backup target ${c.name} (${describeEndpoint(e)})`;
  const said = stderr.trim().split('\n').slice(-3).join(' / ');
  const details = { target: c.name, endpoint: describeEndpoint(e), stderr: said };
  switch (kind) {
    case 'unreachable':
      return new HastackError(
        ErrorCode.HOST_UNREACHABLE,
        `${who} is unreachable (ssh: ${said}): check that the machine is up, that sshd listens on ${e.host} port ${e.port} and that no firewall drops it; try: ssh -i ${c.identityFile} -p ${e.port} ${c.destination} true`,
        { details },
      );
    case 'key-unknown':
      return new HastackError(
        ErrorCode.HOST_KEY_UNKNOWN,
        `${who}: its host key is not in ${c.knownHosts}, and hastack never accepts a new host key by itself: read the key on that machine (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), compare it with ssh-keyscan -p ${e.port} ${e.host}, then set hostKey of this target to the "TYPE BASE64" part`,
        { details },
      );
    case 'key-changed':
      return new HastackError(
        ErrorCode.HOST_KEY_CHANGED,
        `${who}: its host key differs from the one in ${c.knownHosts} (a reinstalled machine, or someone in between): find out which before sending a backup there; if the new key is right, put it in hostKey of this target`,
        { details },
      );
    case 'auth':
      return new HastackError(
        ErrorCode.HOST_AUTH_FAILED,
        `${who} refused the backup key (${c.identityFile}.pub) for user ${e.user}: ${AUTHORIZE_ADVICE}; it puts the key in ~${e.user}/.ssh/authorized_keys there, restricted to hastack's gate and to the addresses that send backups (from=): a machine not among them is refused too`,
        { details },
      );
  }
}

/** What to run so that the target takes the backup key, for messages (deploy does it too on hosts). */
export const AUTHORIZE_ADVICE = 'run "hastack backup authorize" (on substrate: hosts, "hastack deploy" does it too)';

/**
 * Sends one request to the target's gate (backup-ssh-gate.ts): plain words joined by blanks (the
 * gate refuses anything else, so nothing is quoted), `input` on its stdin. Resolves with stdout;
 * rejects with a typed error: ssh's own failure (sshTargetError), HOST_AUTH_FAILED when the key
 * reaches a shell there instead of the gate, HOST_COMMAND_FAILED with the gate's stderr otherwise.
 */
export function sshCall(c: SshConn, request: readonly string[], o: { readonly timeoutMs: number; readonly input?: string | Buffer; readonly what: string }): Promise<string> {
  const bad = request.find((w) => !PLAIN_WORD.test(w));
  if (bad !== undefined)
    return Promise.reject(new HastackError(ErrorCode.INTERNAL, `a request to backup target ${c.name} with the word ${JSON.stringify(bad)}, which its gate refuses`));
  return new Promise((resolve, reject) => {
    const [cmd, ...opts] = c.ssh;
    const child = execFile(
      cmd ?? 'ssh',
      [...opts, '-T', '--', c.destination, request.join(' ')],
      { timeout: o.timeoutMs, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const code = typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : undefined;
        const typed = code === SSH_FAILED_EXIT ? sshTargetError(c, stderr) : undefined;
        if (typed) return reject(typed);
        const where = `backup target ${c.name} (${describeEndpoint(c.endpoint)})`;
        const why =
          stderr.trim().split('\n').slice(-3).join(' / ') || ((err as { killed?: boolean }).killed ? `no answer within ${o.timeoutMs / 1000} s` : `exit status ${code ?? '?'}`);
        // 127: the login shell found no such command (the key is authorised without the gate), or no gate file.
        if (code === SHELL_NOT_FOUND_EXIT && /not found|No such file/i.test(stderr)) {
          return reject(
            new HastackError(ErrorCode.HOST_AUTH_FAILED, `${where} runs the backup key's requests in a shell, not through hastack's gate (${why}): ${AUTHORIZE_ADVICE}`, {
              details: { target: c.name, exitCode: code },
            }),
          );
        }
        reject(
          new HastackError((err as { killed?: boolean }).killed ? ErrorCode.TIMEOUT : ErrorCode.HOST_COMMAND_FAILED, `${o.what} on ${where} failed: ${why}`, {
            details: { target: c.name, exitCode: code, ...(code === GATE_REFUSED_EXIT ? { refusedByGate: true } : {}) },
          }),
        );
      },
    );
    child.stdin?.end(o.input ?? '');
  });
}
