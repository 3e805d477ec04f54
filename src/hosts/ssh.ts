/**
 * The laptop side of `substrate: hosts`: commands and files on a machine over the system `ssh`
 * (OpenSSH: the operator's own config, agent and known_hosts keep working, and host keys are
 * verified the way they already trust). One shared connection per host (ControlMaster), so a
 * deploy of dozens of commands pays one handshake.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { z } from 'zod';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import {
  HostError,
  SSH_FAILED_EXIT,
  classifySshFailure,
  commandFailedError,
  formatTarget,
  shq,
  sshArgs,
  sshExitArgs,
  sshFailureError,
  tail,
  type SshOptions,
  type SshTarget,
} from './ssh-args.js';

export { HostError, parseSshTarget, formatTarget, shq } from './ssh-args.js';
export type { SshOptions, SshTarget } from './ssh-args.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string | Buffer;
  /** Bound on the whole command; the default suits short commands, pass more for long ones. */
  timeoutMs?: number;
}

/**
 * A command that has not finished in 2 minutes is stuck (a deploy's slowest step, extracting the
 * install tarball, takes seconds); callers with longer work pass their own bound.
 */
const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;
/** `readFile`'s exit status for "no such file" (any status a `cat` failure cannot produce). */
const ABSENT_EXIT = 100;
/** Ending the master is local work on a unix socket; 5 s means it is gone already or wedged. */
const CLOSE_TIMEOUT_MS = 5_000;

export class SshHost {
  readonly target: SshTarget;
  private readonly opts: SshOptions;
  private controlDir: string | undefined;
  /** Only a control dir we made is ours to delete. */
  private readonly ownsControlDir: boolean;

  constructor(target: SshTarget, opts: SshOptions) {
    this.target = target;
    this.opts = opts;
    this.controlDir = opts.controlDir;
    this.ownsControlDir = opts.controlDir === undefined;
  }

  /** Runs `command` in the user's shell there. Never throws on a non-zero exit; throws HostError when ssh itself fails. */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const { code, stdout, stderr } = await this.spawnSsh(command, opts.input, opts.timeoutMs);
    return { code, stdout: stdout.toString('utf8'), stderr };
  }

  /** Runs `command`; its stdout. Throws HostError (naming the host, with stderr's tail) on a non-zero exit. */
  async run(command: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(command, opts);
    if (r.code !== 0) throw commandFailedError(this.target, command, r.code, r.stderr);
    return r.stdout;
  }

  /** Runs `command` and parses its stdout as JSON matching `schema`. */
  async runJson<T>(command: string, schema: z.ZodType<T>, opts: ExecOptions = {}): Promise<T> {
    const out = await this.run(command, opts);
    let value: unknown;
    try {
      value = JSON.parse(out);
    } catch (e) {
      throw this.badOutput(command, `printed no JSON (${describeError(e)})`, out);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw this.badOutput(command, `printed JSON of an unexpected shape (${parsed.error.issues[0]?.message ?? 'invalid'})`, out);
    return parsed.data;
  }

  /**
   * Writes a file atomically: a temp file beside it (created under umask 077, so a secret is
   * never readable by others even for a moment), then chmod and rename. Creates the directory.
   */
  async writeFile(remotePath: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const p = shq(remotePath);
    // $$ (the remote shell's pid, outside the quotes) keeps two concurrent writers apart.
    const tmp = `${p}.hastack-tmp.$$`;
    const cmd = `set -e; umask 077; mkdir -p -- "$(dirname -- ${p})"; cat > ${tmp}; chmod ${mode.toString(8)} ${tmp}; mv -f -- ${tmp} ${p}`;
    await this.run(cmd, { input: content });
  }

  /** The file's content; undefined when it does not exist. */
  async readFile(remotePath: string): Promise<string | undefined> {
    const p = shq(remotePath);
    const r = await this.exec(`[ -e ${p} ] || exit ${ABSENT_EXIT}; cat -- ${p}`);
    if (r.code === ABSENT_EXIT) return undefined;
    if (r.code !== 0) throw commandFailedError(this.target, `cat ${remotePath}`, r.code, r.stderr);
    return r.stdout;
  }

  /**
   * Streams a gzipped tar (see `tarDirectory`) into `remoteDir` (created), extracted by the
   * host's own `tar`. A failure of the local tar stream fails the upload too.
   */
  async uploadTar(tarStream: () => NodeJS.ReadableStream | Buffer, remoteDir: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const d = shq(remoteDir);
    const cmd = `mkdir -p -- ${d} && tar -C ${d} -xzf -`;
    const r = await this.spawnSsh(cmd, tarStream(), opts.timeoutMs);
    if (r.code !== 0) throw commandFailedError(this.target, cmd, r.code, r.stderr);
  }

  /**
   * Runs `command` here and `destCommand` on `dest`, this one's stdout streamed into that one's
   * stdin through this machine (hosts hold no keys to each other): a datadir copied between two
   * hosts. Never buffers the stream; resolves with `destCommand`'s stdout once both exited 0,
   * else fails naming the side that failed and its stderr. Bounded by `timeoutMs`.
   */
  async pipeTo(command: string, dest: SshHost, destCommand: string, timeoutMs: number): Promise<string> {
    const src = spawn('ssh', sshArgs(this.target, this.opts, this.ensureControlDir(), command), { stdio: ['ignore', 'pipe', 'pipe'] });
    const dst = spawn('ssh', sshArgs(dest.target, dest.opts, dest.ensureControlDir(), destCommand), { stdio: ['pipe', 'pipe', 'pipe'] });
    const ended = (child: ReturnType<typeof spawn>, host: SshHost, cmd: string, errs: { text: string }): Promise<void> =>
      new Promise((resolve, reject) => {
        child.once('error', (e) => reject(new HostError(ErrorCode.HOST_UNREACHABLE, host.target, `host ${host.target.node}: starting ssh failed: ${e.message}`)));
        child.once('close', (code, signal) => {
          const status = code ?? (signal !== null ? 128 : 1);
          if (status === 0) return resolve();
          const kind = status === SSH_FAILED_EXIT ? classifySshFailure(errs.text) : undefined;
          reject(kind !== undefined ? sshFailureError(kind, host.target, host.opts, errs.text) : commandFailedError(host.target, cmd, status, errs.text));
        });
      });
    const srcErr = { text: '' };
    const dstErr = { text: '' };
    let out = '';
    src.stderr.on('data', (d: Buffer) => (srcErr.text = (srcErr.text + d.toString('utf8')).slice(-4000)));
    dst.stderr.on('data', (d: Buffer) => (dstErr.text = (dstErr.text + d.toString('utf8')).slice(-4000)));
    dst.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    dst.stdin.on('error', () => undefined);
    src.stdout.pipe(dst.stdin);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      src.kill('SIGKILL');
      dst.kill('SIGKILL');
    }, timeoutMs);
    try {
      // The sender's failure is the cause when both fail (the receiver then sees a short stream).
      const results = await Promise.allSettled([ended(src, this, command, srcErr), ended(dst, dest, destCommand, dstErr)]);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      return out;
    } catch (e) {
      if (timedOut)
        throw new HostError(
          ErrorCode.HOST_COMMAND_FAILED,
          this.target,
          `copying from ${this.target.node} to ${dest.target.node} did not finish within ${timeoutMs} ms (${describeError(e)})`,
        );
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the shared connection and removes its socket dir. Idempotent; never throws. */
  async close(): Promise<void> {
    const dir = this.controlDir;
    if (dir === undefined) return;
    await new Promise<void>((resolve) => {
      // No master (never connected, or ControlPersist expired) is fine: ssh says so and exits 255.
      const child = spawn('ssh', sshExitArgs(this.target, this.opts, dir), { stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
      child.once('error', () => resolve());
      child.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.ownsControlDir) {
      fs.rmSync(dir, { recursive: true, force: true });
      this.controlDir = undefined;
    }
  }

  private ensureControlDir(): string {
    if (this.controlDir === undefined) {
      // Short and private: /tmp/hs-ssh-XXXXXX/<40 hex> + ssh's temporary suffix stays far below
      // the 108 bytes of a unix socket path; 0700 so no one else can ride our connection.
      this.controlDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-ssh-'));
    }
    return this.controlDir;
  }

  private spawnSsh(
    command: string,
    input: string | Buffer | NodeJS.ReadableStream | undefined,
    timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ): Promise<{ code: number; stdout: Buffer; stderr: string }> {
    const args = sshArgs(this.target, this.opts, this.ensureControlDir(), command);
    return new Promise((resolve, reject) => {
      const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let stderr = '';
      let failure: HastackError | undefined;
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      let piped: Readable | undefined;
      /**
       * Fails now, not at 'close': over a shared connection the ssh client hands its pipes to the
       * master, which holds them open until the remote command ends (a `sleep 60` past a 300 ms
       * bound failed after 60 s). Our ends are dropped so nothing waits on them.
       */
      const fail = (e: HastackError): void => {
        clearTimeout(timer);
        failure = e;
        child.kill('SIGKILL');
        piped?.unpipe(child.stdin);
        child.stdin.destroy();
        child.stdout.destroy();
        child.stderr.destroy();
        reject(e);
      };
      const timer = setTimeout(
        () =>
          fail(
            new HostError(
              ErrorCode.HOST_COMMAND_FAILED,
              this.target,
              `host ${this.target.node} (${formatTarget(this.target)}): \`${command.slice(0, 120)}\` did not finish within ${timeoutMs} ms; look at what it is waiting for on the host (it may still be running there)`,
              { details: { command: command.slice(0, 120), timedOut: true, stderr: tail(stderr) } },
            ),
          ),
        timeoutMs,
      );
      child.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          e.code === 'ENOENT'
            ? new HastackError(ErrorCode.ENGINE_MISSING, 'the ssh client is missing on this machine: apt-get install openssh-client')
            : new HostError(ErrorCode.HOST_UNREACHABLE, this.target, `host ${this.target.node}: starting ssh failed: ${e.message}`),
        );
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (failure !== undefined) return reject(failure);
        const status = code ?? (signal !== null ? 128 : 1);
        if (status === SSH_FAILED_EXIT) {
          const kind = classifySshFailure(stderr);
          if (kind !== undefined) return reject(sshFailureError(kind, this.target, this.opts, stderr));
        }
        resolve({ code: status, stdout: Buffer.concat(out), stderr });
      });
      // The remote side may exit before reading everything (a failed mkdir): not our error,
      // its exit status and stderr say what happened. No input: stdin is closed at once (ssh -n).
      child.stdin.on('error', () => undefined);
      if (input === undefined) child.stdin.end();
      else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
      else {
        const stream = input as Readable;
        piped = stream;
        stream.once('error', (e: Error) =>
          fail(new HostError(ErrorCode.HOST_COMMAND_FAILED, this.target, `host ${this.target.node}: the local data to send failed: ${e.message}`)),
        );
        stream.pipe(child.stdin);
      }
    });
  }

  private badOutput(command: string, what: string, out: string): HostError {
    return new HostError(
      ErrorCode.HOST_COMMAND_FAILED,
      this.target,
      `host ${this.target.node} (${formatTarget(this.target)}): \`${command.slice(0, 120)}\` ${what}; is the same hastack version installed there? Output: ${tail(out, 3, 300)}`,
    );
  }
}

/**
 * A gzipped tar of `entries` (relative to `dir`) made by the system `tar`, as a stream for
 * `uploadTar`. The stream errors when tar fails (a missing entry), so the upload fails with it.
 */
export function tarDirectory(dir: string, entries: readonly string[] = ['.']): Readable {
  const child = spawn('tar', ['-C', dir, '-cz', '--', ...entries], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const stdout = child.stdout;
  const out = new Readable({ read: () => stdout.resume() });
  stdout.on('data', (d: Buffer) => {
    if (!out.push(d)) stdout.pause();
  });
  // The stream ends only when tar has exited, so a failure at the very end still reaches the reader.
  child.once('close', (code) => {
    if (code === 0) out.push(null);
    else out.destroy(new HastackError(ErrorCode.SETUP_FAILED, `tar of ${dir} failed (status ${code}): ${tail(stderr, 3)}`));
  });
  child.once('error', (e) => out.destroy(new HastackError(ErrorCode.ENGINE_MISSING, `running tar failed (${e.message}): apt-get install tar`)));
  return out;
}
