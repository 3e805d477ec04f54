import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { tailFile } from '../shared/files.js';

/**
 * Runs one helper program of a backup or restore (mariabackup, rsync, redis-check-rdb) to
 * completion: output appended to `logFile`, killed at the deadline or when `signal` aborts.
 * Resolves on exit code 0; otherwise throws with the tail of the log, which is where these tools
 * say what went wrong.
 */
export function runTool(
  command: string,
  args: readonly string[],
  opts: { logFile: string; timeoutMs: number; signal?: AbortSignal; what: string; env?: Readonly<Record<string, string>> },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (opts.signal?.aborted) return reject(interrupted(opts.what));
    const fd = fs.openSync(opts.logFile, 'a');
    fs.writeSync(fd, `--- ${new Date().toISOString()} ${command} ${args.join(' ')}\n`);
    // `env`: a secret a tool reads from its environment (REDISCLI_AUTH), never from argv.
    // A backup killed mid-way must not leave mariabackup or rsync writing into a directory the next run removes.
    const child = spawn('setpriv', diesWithParent(command, args), {
      stdio: ['ignore', fd, fd],
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    });
    fs.closeSync(fd);
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => {
      child.kill('SIGKILL');
      finish(interrupted(opts.what));
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new HastackError(ErrorCode.TIMEOUT, `${opts.what} did not finish within ${opts.timeoutMs / 1000} s; see ${opts.logFile}`));
    }, opts.timeoutMs);
    child.on('error', (e) => finish(missing('setpriv', e)));
    child.on('exit', (code, sig) => {
      if (code === 0) return finish();
      // setpriv's own code when it cannot exec the tool (util-linux EX_EXEC_ENOENT)
      if (code === SETPRIV_ENOENT) return finish(missing(command));
      finish(
        new HastackError(
          ErrorCode.SETUP_FAILED,
          `${opts.what} failed (${sig ? `signal ${sig}` : `exit code ${code}`}); last lines of ${opts.logFile}:\n${tailFile(opts.logFile, 12)}`,
        ),
      );
    });
  });
}

/**
 * Arguments of `setpriv` (util-linux) that run `command` with SIGKILL as its parent-death signal:
 * it dies with the process that started it, even one killed by SIGKILL (which runs no cleanup).
 */
export function diesWithParent(command: string, args: readonly string[]): string[] {
  return ['--pdeathsig', 'KILL', '--', command, ...args];
}

const SETPRIV_ENOENT = 127;

function missing(command: string, cause?: Error): HastackError {
  return new HastackError(ErrorCode.ENGINE_MISSING, `cannot run ${command}${cause ? `: ${cause.message}` : ''}; run "hastack doctor" to see which packages are missing`, { cause });
}

function interrupted(what: string): HastackError {
  return new HastackError(ErrorCode.INTERNAL, `${what} was interrupted; nothing half-done is kept, run the command again`);
}

/** The first line a tool prints for `--version` (stdout or stderr), for the manifest. */
export function toolVersion(command: string): string {
  // 10 s: printing a version is instant; the bound only guards against a wedged binary.
  const r = spawnSync(command, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => l.trim() !== '');
  return text?.trim() ?? 'unknown';
}
