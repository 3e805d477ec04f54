import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { ErrorCode, HastackError } from '../shared/errors.js';

/**
 * Small helpers the engine drivers share. Internal to src/engines (not exported from index.ts).
 */

/** Rejects with a TIMEOUT HastackError when `p` has not settled after `ms`; `onTimeout` cleans up. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      try {
        onTimeout?.();
      } catch {
        // cleanup is best effort; the timeout is the error worth reporting
      }
      reject(new HastackError(ErrorCode.TIMEOUT, `${what} did not answer within ${ms} ms`));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** The one atomic write (temp file, fsync, rename, fsync of the directory): shared/files.ts. */
export { writeFileAtomic } from '../shared/files.js';

/**
 * Linux refuses a unix socket path longer than 107 bytes (sun_path is 108 with the NUL), and the
 * engine's error then speaks of the socket, not of the state directory that made it long.
 */
export const MAX_UNIX_SOCKET_PATH = 107;

export function checkSocketPath(socketPath: string): void {
  if (Buffer.byteLength(socketPath) > MAX_UNIX_SOCKET_PATH) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `the unix socket path ${socketPath} is longer than ${MAX_UNIX_SOCKET_PATH} bytes, which Linux refuses; ` +
        'run hastack from a directory with a shorter path (the state directory is ./.hastack)',
    );
  }
}

/**
 * Runs a short helper program (not a service) with a hard deadline, output appended to `logFile`.
 * Resolves with the exit code; a program that outlives the deadline is killed and reported.
 */
export function runToCompletion(command: string, args: readonly string[], opts: { logFile: string; timeoutMs: number; cwd?: string }): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const fd = fs.openSync(opts.logFile, 'a');
    let done = false;
    const finish = (f: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        fs.closeSync(fd);
      } catch {
        // already closed: nothing to release
      }
      f();
    };
    const child = spawn(command, [...args], { stdio: ['ignore', fd, fd], cwd: opts.cwd });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() => reject(new HastackError(ErrorCode.TIMEOUT, `${command} did not finish within ${opts.timeoutMs} ms (see ${opts.logFile})`)));
    }, opts.timeoutMs);
    child.on('error', (e) =>
      finish(() =>
        reject(
          new HastackError(ErrorCode.ENGINE_MISSING, `cannot run ${command}: ${e.message}; run "hastack doctor" to see which packages are missing`, {
            cause: e,
          }),
        ),
      ),
    );
    child.on('exit', (code, signal) => finish(() => resolve(code ?? (signal ? 128 : 1))));
  });
}

/** `host:port`, for details and messages. */
export function hostPort(host: string, port: number): string {
  return `${host}:${port}`;
}
