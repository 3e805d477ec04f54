import { execFile } from 'node:child_process';
import { z } from 'zod';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { sleep } from '../shared/retry.js';
import { runTool } from './backup-tools.js';

/*
 * A backup copied to another machine (`substrate: hosts`, the backup target not the source's
 * machine): rsync over SSH with the cluster's backup key, which the target accepts only from the
 * database nodes and only to run its gate (src/hosts/backup-gate.ts): receive into
 * `.incoming-<id>` of its own backup directory, check, rename, prune. No password or key
 * material is in any argument: the key is a file (0600, root) named by path.
 */

/** How this machine reaches one other node for a backup copy (made by the CLI from the hosts config). */
export interface RemoteTarget {
  readonly node: string;
  /** `ssh` and its options (identity, known hosts, batch mode, port), without the destination. */
  readonly ssh: readonly string[];
  /** `user@host`. */
  readonly destination: string;
}

/** Three tries, each resuming the last (rsync's --partial-dir keeps what already arrived). */
export const COPY_ATTEMPTS = 3;
// Between tries: a restarting sshd or a network blip is over within seconds.
const RETRY_DELAY_MS = 3_000;
// No byte in either direction for this long: the connection is dead (rsync --timeout), and the
// attempt fails instead of waiting for the 30 min bound of the whole copy.
const RSYNC_IO_TIMEOUT_S = 60;
// A gate call (begin, abort) does a directory listing; finish reads the copy once for its sha256: bound by size.
const GATE_CALL_TIMEOUT_MS = 30_000;
const FINISH_TIMEOUT_MS = 30 * 60_000;

const finishSchema = z.object({ dir: z.string(), removed: z.array(z.object({ id: z.string(), verification: z.enum(['passed', 'failed', 'unverified']) })) });
export type RemoteFinish = z.infer<typeof finishSchema>;

function gateCall(r: RemoteTarget, words: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const [cmd, ...opts] = r.ssh;
    execFile(cmd ?? 'ssh', [...opts, r.destination, ...words], { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : undefined;
      // ssh says nothing at LogLevel=ERROR when the connection is closed under it (sshd stopped
      // mid-call, measured): name that rather than echo the command line, which tells nothing.
      const why =
        stderr.trim().split('\n').slice(-3).join(' ') ||
        (code === 255 ? 'ssh exited 255 without a message: the connection was closed or reset (sshd stopped, the machine going down?)' : err.message);
      // ssh's own failures (no route, refused, host key, auth) exit 255; the gate's refusals 1.
      reject(
        new HastackError(code === 255 ? ErrorCode.HOST_UNREACHABLE : ErrorCode.HOST_COMMAND_FAILED, `${words[0] ?? ''} on ${r.node} (${r.destination}) failed: ${why}`, {
          details: { node: r.node },
        }),
      );
    });
  });
}

export interface RemoteCopy {
  readonly id: string;
  readonly stagingDir: string;
  /** The same path on the target (every host has the same state directory layout). */
  readonly incomingDir: string;
  readonly keep: number;
  readonly logFile: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly say: (message: string, step: string, data?: Record<string, unknown>) => void;
}

/**
 * After `beginRemote`: rsync (up to COPY_ATTEMPTS, each resuming) → finish (checked against the manifest on
 * the target, renamed into place, retention there). On failure the target's partial copy is
 * removed when it can still be reached, and the error says which step failed and why; the
 * backups already on the target are never touched by a failed copy.
 */
/**
 * The target answers over SSH and has its backup directory ready (leftovers of interrupted copies
 * removed). Asked before the backup starts: a replica is not held still, and minutes are not
 * spent copying it, for a copy that cannot land.
 */
export async function beginRemote(r: RemoteTarget, id: string): Promise<void> {
  await gateCall(r, ['begin', id], GATE_CALL_TIMEOUT_MS);
}

export async function copyToRemote(r: RemoteTarget, c: RemoteCopy): Promise<RemoteFinish> {
  try {
    const args = [
      '-a',
      '--checksum',
      '--delete',
      '--partial-dir=.rsync-partial',
      `--timeout=${RSYNC_IO_TIMEOUT_S}`,
      '-e',
      r.ssh.join(' '),
      `${c.stagingDir}/`,
      `${r.destination}:${c.incomingDir}/`,
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        c.say(`rsync over SSH to ${r.node} (${r.destination}:${c.incomingDir}), attempt ${attempt} of ${COPY_ATTEMPTS}`, 'rsync', { target: r.node, attempt });
        await runTool('rsync', args, { logFile: c.logFile, timeoutMs: c.timeoutMs, signal: c.signal, what: `rsync over SSH to ${r.node}` });
        break;
      } catch (e) {
        if (attempt >= COPY_ATTEMPTS || c.signal?.aborted) throw e;
        c.say(`rsync to ${r.node} failed (${describeError(e).split('\n')[0] ?? ''}); resuming in ${RETRY_DELAY_MS / 1000} s`, 'rsync-retry', {
          target: r.node,
          attempt,
          warning: true,
        });
        await sleep(RETRY_DELAY_MS * attempt);
      }
    }
    c.say(`${r.node}: checking the copy against the manifest (sha256 of every file), renaming it into place`, 'receive', { target: r.node });
    const out = await gateCall(r, ['finish', c.id, String(c.keep)], FINISH_TIMEOUT_MS);
    const parsed = finishSchema.safeParse(JSON.parse(out.trim().split('\n').at(-1) ?? '{}'));
    if (!parsed.success) throw new HastackError(ErrorCode.HOST_COMMAND_FAILED, `finish on ${r.node} printed an unexpected answer: ${out.slice(0, 200)}`);
    return parsed.data;
  } catch (e) {
    // Best effort: an unreachable target keeps its partial copy, which its next `begin` removes.
    await gateCall(r, ['abort', c.id], GATE_CALL_TIMEOUT_MS).catch(() => undefined);
    throw e;
  }
}
