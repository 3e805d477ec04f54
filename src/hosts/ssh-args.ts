/**
 * The pure half of the SSH transport: parsing targets, building the `ssh` argument list, quoting
 * for the remote shell, and turning what ssh printed on a failure into a HostError that tells the
 * operator what to do. No processes here, so all of it is unit-tested.
 */
import { ErrorCode, HastackError } from '../shared/errors.js';
import { shq, type SshFailure } from '../shared/ssh-words.js';

// Shared with backup targets on a plain machine (src/failover/backup-ssh.ts).
export { classifySshFailure, shq, type SshFailure } from '../shared/ssh-words.js';

export interface SshTarget {
  /** The hastack node this machine is (for messages). */
  readonly node: string;
  readonly user: string;
  readonly host: string;
  readonly port: number;
}

export interface SshOptions {
  /** A private key; with it ssh offers only this key (IdentitiesOnly), not the agent's. */
  identityFile?: string;
  /** Where host keys are verified; ssh's default (~/.ssh/known_hosts) when absent. */
  knownHostsFile?: string;
  connectTimeoutMs?: number;
  /** Directory for ControlMaster sockets; a private temp dir (removed by close) when absent. */
  controlDir?: string;
}

/**
 * How long ssh waits for the TCP connection and the handshake. 10 s: a host on a LAN answers in
 * milliseconds, a host across the world in well under a second; longer means it is not there.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * Keepalives on every connection: 5 s × 3 unanswered = a connection to a host that vanished
 * (powered off, cable pulled) fails in ~15 s instead of hanging for the TCP timeout (minutes).
 */
const SERVER_ALIVE_INTERVAL_S = 5;
const SERVER_ALIVE_COUNT_MAX = 3;
/**
 * The shared connection outlives the last command by 60 s: long enough for a deploy's next step
 * (a health wait between two units) to reuse it, short enough not to leave masters around.
 */
const CONTROL_PERSIST_S = 60;
/** ssh's exit status for its own failures (the remote command's status otherwise). */
export const SSH_FAILED_EXIT = 255;

/** "root@10.0.0.5:2222", "deploy@db1", "db1" (user defaults to root, port to 22). */
export function parseSshTarget(node: string, spec: string): SshTarget {
  const bad = (why: string): never => {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `nodes.${node}.ssh "${spec}": ${why}; write it as user@host[:port], e.g. root@10.0.0.5:22`, {
      details: { node, spec },
    });
  };
  const s = spec.trim();
  if (s === '' || /\s/.test(s)) bad('empty or contains spaces');
  const at = s.lastIndexOf('@');
  const user = at >= 0 ? s.slice(0, at) : 'root';
  const rest = at >= 0 ? s.slice(at + 1) : s;
  if (user === '' || !/^[A-Za-z0-9._-]+$/.test(user)) bad('the user name is empty or has characters ssh would not accept');
  let host = rest;
  let port = 22;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1] ?? '';
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    const [h, p] = rest.split(':');
    host = h ?? '';
    port = /^\d+$/.test(p ?? '') ? Number(p) : NaN;
  }
  if (host === '' || host.startsWith('-')) bad('the host is empty or starts with "-"');
  if (!Number.isInteger(port) || port < 1 || port > 65535) bad('the port must be a number from 1 to 65535');
  return { node, user, host, port };
}

/** "root@10.0.0.5:22": how a target is named in messages. */
export function formatTarget(t: SshTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.user}@${host}:${t.port}`;
}

/** How known_hosts (and ssh-keygen -R) name a host: plain on port 22, "[host]:port" otherwise. */
export function knownHostsName(t: SshTarget): string {
  return t.port === 22 ? t.host : `[${t.host}]:${t.port}`;
}

/** The options every ssh invocation of one host shares (the master and the clients must agree). */
export function sshOptions(opts: SshOptions, controlDir: string): string[] {
  const o = (kv: string): string[] => ['-o', kv];
  const timeoutS = Math.max(1, Math.ceil((opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) / 1000));
  return [
    // Never ask a question: there is no one to answer it. A prompt becomes an error we classify.
    ...o('BatchMode=yes'),
    // Unknown or changed host keys are refused, never learned on the way (trust-on-first-use
    // would let anyone in the middle collect our secrets.json).
    ...o('StrictHostKeyChecking=yes'),
    ...(opts.knownHostsFile !== undefined ? o(`UserKnownHostsFile=${opts.knownHostsFile}`) : []),
    ...(opts.identityFile !== undefined ? [...o('IdentitiesOnly=yes'), '-i', opts.identityFile] : []),
    ...o(`ConnectTimeout=${timeoutS}`),
    ...o(`ServerAliveInterval=${SERVER_ALIVE_INTERVAL_S}`),
    ...o(`ServerAliveCountMax=${SERVER_ALIVE_COUNT_MAX}`),
    // One TCP connection + handshake per host, shared by the dozens of commands of a deploy.
    // %C (a hash of the connection) keeps the socket path short: unix sockets allow 108 bytes.
    ...o('ControlMaster=auto'),
    ...o(`ControlPath=${controlDir}/%C`),
    ...o(`ControlPersist=${CONTROL_PERSIST_S}`),
  ];
}

/** The full argument list for running `command` on the target (ssh hands it to the user's shell). */
export function sshArgs(target: SshTarget, opts: SshOptions, controlDir: string, command: string): string[] {
  // -T: no terminal (output stays byte-exact); `--` so a host can never be read as an option.
  return [...sshOptions(opts, controlDir), '-T', '-p', String(target.port), '-l', target.user, '--', target.host, command];
}

/** Ends the shared connection of a target (`ssh -O exit`). */
export function sshExitArgs(target: SshTarget, opts: SshOptions, controlDir: string): string[] {
  return [...sshOptions(opts, controlDir), '-O', 'exit', '-p', String(target.port), '-l', target.user, '--', target.host];
}

/** A failure talking to one host; the message names the node, the target and the fix. */
export class HostError extends HastackError {
  readonly node: string;
  readonly target: string;
  constructor(code: ErrorCode, target: SshTarget, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(code, message, { ...options, details: { node: target.node, target: formatTarget(target), ...options?.details } });
    this.name = 'HostError';
    this.node = target.node;
    this.target = formatTarget(target);
  }
}

/** The last lines of some output, for messages (a deploy's failure must show why, not everything). */
export function tail(text: string, lines = 8, maxChars = 1500): string {
  const t = text.trimEnd().split('\n').slice(-lines).join('\n');
  return t.length > maxChars ? `…${t.slice(-maxChars)}` : t;
}

/** The HostError for an ssh failure of a known kind. */
export function sshFailureError(kind: SshFailure, target: SshTarget, opts: SshOptions, stderr: string): HostError {
  const who = `host ${target.node} (${formatTarget(target)})`;
  const known = opts.knownHostsFile ?? '~/.ssh/known_hosts';
  const said = tail(stderr, 3).replace(/\s*\n\s*/g, ' / ');
  const details = { stderr: tail(stderr) };
  switch (kind) {
    case 'unreachable':
      return new HostError(
        ErrorCode.HOST_UNREACHABLE,
        target,
        `${who} is unreachable (ssh: ${said}): check that the machine is up, that sshd listens on ${target.host} port ${target.port} and that no firewall drops it; try: ssh -p ${target.port} ${target.user}@${target.host} true`,
        { details },
      );
    case 'key-unknown':
      return new HostError(
        ErrorCode.HOST_KEY_UNKNOWN,
        target,
        `${who}: its host key is not in ${known}: verify it, then run ssh-keyscan -p ${target.port} ${target.host} >> ${known}`,
        { details },
      );
    case 'key-changed':
      return new HostError(
        ErrorCode.HOST_KEY_CHANGED,
        target,
        `${who}: its host key differs from the one in ${known} (a reinstalled machine, or someone in between): find out which; if the new key is right, run ssh-keygen -R ${shq(knownHostsName(target))} -f ${known} && ssh-keyscan -p ${target.port} ${target.host} >> ${known}`,
        { details },
      );
    case 'auth': {
      const key = opts.identityFile ?? "ssh's default keys";
      const pub = opts.identityFile !== undefined ? `${opts.identityFile}.pub` : 'your public key';
      return new HostError(
        ErrorCode.HOST_AUTH_FAILED,
        target,
        `${who} refused ${key} for user ${target.user}: add ${pub} to ~${target.user}/.ssh/authorized_keys there (e.g. ssh-copy-id -i ${pub} -p ${target.port} ${target.user}@${target.host}), or set hosts.identityFile to a key it accepts`,
        { details },
      );
    }
  }
}

/** The HostError for a remote command that exited non-zero. */
export function commandFailedError(target: SshTarget, command: string, code: number, stderr: string): HostError {
  const cmd = command.length > 120 ? `${command.slice(0, 117)}...` : command;
  const why = stderr.trim() === '' ? '(nothing on stderr)' : `\n${tail(stderr)}`;
  return new HostError(
    ErrorCode.HOST_COMMAND_FAILED,
    target,
    `host ${target.node} (${formatTarget(target)}): \`${cmd}\` exited with status ${code}; fix what it printed and re-run: ${why}`,
    { details: { command: cmd, exitCode: code, stderr: tail(stderr) } },
  );
}
