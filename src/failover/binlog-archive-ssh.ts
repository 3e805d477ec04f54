import path from 'node:path';
import type { Topology } from '../config/index.js';
import { describeError } from '../shared/errors.js';
import type { BackupKey } from './backup-crypt.js';
import { sshCall, sshConn, type SshConn } from './backup-ssh.js';
import type { BackupTarget } from './backup-targets.js';
import { runTool } from './backup-tools.js';
import { TARGET_ARCHIVE_DIR, tailChunk } from './binlog-archive-seal.js';

/*
 * The binlog archive's copies on one SSH target (a plain machine, backup-ssh.ts): the same layout
 * as a directory target's (`<dir>/<cluster>/binlog-archive/<segment>/`), the same files (sealed
 * before they leave when backup.keyFile is set), sent in the background so the archiver's
 * one-second tick never waits on a network:
 *   - a finished file and its segment.json: rsync (a temporary name, then rename: rsync's own);
 *     then the file's chunks there are removed;
 *   - the file being streamed: its new complete transactions as one chunk `<file>.tail-<offset>`
 *     every TAIL_INTERVAL_MS (10 s, not every second as for a directory target: each chunk costs
 *     an SSH connection, ~0.1-0.3 s of handshake here), so losing the archiving machine loses
 *     about 10 s of commits on this target;
 *   - pruned segments removed there too.
 * Each step is a request to the target's gate (backup-ssh-gate.ts: rsync into the segment's
 * directory, `drop-tails`, `put`, `remove`).
 * One queue per target, in order; a step that fails stays at the head and is tried again
 * RETRY_MS later (a target that is down keeps its backlog, in memory, until it is back or the
 * archiver stops). Each failure streak is reported once.
 */

const TAIL_INTERVAL_MS = 10_000;
const RETRY_MS = 10_000;
// One file (up to max_binlog_size) over a LAN or a link of a few MB/s: bounded, never hanging.
const PUT_TIMEOUT_MS = 10 * 60_000;
const CALL_TIMEOUT_MS = 60_000;
// How long a stop waits for the queue: the last finished file usually, a second or two.
const CLOSE_WAIT_MS = 15_000;

type Job = { readonly what: string; readonly run: () => Promise<void> };

export class SshArchiveShipper {
  private readonly c: SshConn;
  private readonly root: string;
  private readonly jobs: Job[] = [];
  private running: Promise<void> | undefined;
  private failing = false;
  private retryAt = 0;
  private closed = false;
  /** The streamed file's bytes not shipped yet (from `offset`). */
  private pending: { segDir: string; name: string; offset: number; parts: Buffer[] } | undefined;
  private lastTailAt = 0;

  constructor(
    topo: Topology,
    readonly target: BackupTarget,
    private readonly key: BackupKey | undefined,
    private readonly logFile: string,
    private readonly report: (message: string, ok: boolean) => void,
  ) {
    this.c = sshConn(topo, target);
    this.root = path.posix.join(target.root, TARGET_ARCHIVE_DIR);
  }

  /** A finished (sealed) file of `segDir`: to the target with its segment.json, then its chunks there go. */
  fileDone(segDir: string, file: string, segmentFile: string): void {
    const seg = path.basename(segDir);
    const dest = path.posix.join(this.root, seg);
    const name = path.basename(file).replace(/\.enc$/, '');
    if (this.pending?.segDir === segDir && this.pending.name === name) this.pending = undefined;
    this.push({
      what: `copying ${seg}/${path.basename(file)}`,
      run: async () => {
        // The gate makes the segment's directory (0700) before its rsync receives (-rlt: it takes no owner or mode).
        await runTool('rsync', ['-rlt', '-e', this.c.ssh.join(' '), path.join(segDir, segmentFile), file, `${this.c.destination}:${dest}/`], {
          logFile: this.logFile,
          timeoutMs: PUT_TIMEOUT_MS,
          what: `rsync of ${path.basename(file)} to ${this.c.name}`,
        });
        await sshCall(this.c, ['drop-tails', dest, name], { timeoutMs: CALL_TIMEOUT_MS, what: 'removing shipped chunks' });
      },
    });
  }

  /** Newly complete bytes `offset..` of the streamed file `name`; shipped as one chunk every TAIL_INTERVAL_MS. */
  tail(segDir: string, name: string, offset: number, data: Buffer, segmentFile: string, now = Date.now()): void {
    const p = this.pending;
    if (p && p.segDir === segDir && p.name === name && p.offset + p.parts.reduce((n, b) => n + b.length, 0) === offset) p.parts.push(data);
    else this.pending = { segDir, name, offset, parts: [data] };
    this.segmentFile = segmentFile;
    this.flushTail(now);
  }

  private segmentFile = 'segment.json';

  /** The pending bytes as one chunk, once TAIL_INTERVAL_MS passed since the last one. */
  private flushTail(now: number): void {
    if (!this.pending || now - this.lastTailAt < TAIL_INTERVAL_MS) return;
    this.lastTailAt = now;
    const out = this.pending;
    const segmentFile = this.segmentFile;
    this.pending = undefined;
    const seg = path.basename(out.segDir);
    const dest = path.posix.join(this.root, seg);
    const { chunk, body } = tailChunk(out.segDir, out.name, out.offset, Buffer.concat(out.parts), this.key);
    this.push({
      what: `shipping ${seg}/${chunk}`,
      run: async () => {
        // segment.json first (a reader skips a segment without it), then the chunk under a temporary name.
        await runTool('rsync', ['-rlt', '-e', this.c.ssh.join(' '), path.join(out.segDir, segmentFile), `${this.c.destination}:${dest}/`], {
          logFile: this.logFile,
          timeoutMs: CALL_TIMEOUT_MS,
          what: `rsync of ${seg}/${segmentFile} to ${this.c.name}`,
        });
        await sshCall(this.c, ['put', path.posix.join(dest, chunk)], {
          timeoutMs: CALL_TIMEOUT_MS,
          input: body,
          what: `writing ${chunk}`,
        });
      },
    });
  }

  /** Segments the archive pruned: removed there too. */
  prune(segments: readonly string[]): void {
    if (segments.length === 0) return;
    this.push({
      what: `removing ${segments.length} pruned segments`,
      run: () => sshCall(this.c, ['remove', ...segments.map((s) => path.posix.join(this.root, s))], { timeoutMs: CALL_TIMEOUT_MS, what: 'pruning' }).then(() => undefined),
    });
  }

  /** Called every tick: retries a failed step once RETRY_MS passed. */
  kick(now = Date.now()): void {
    this.flushTail(now);
    if (this.running || this.jobs.length === 0 || now < this.retryAt || this.closed) return;
    this.running = this.drain().finally(() => (this.running = undefined));
  }

  /** Waits for the queue (bounded by the steps' own timeouts), then stops taking work. */
  async close(): Promise<void> {
    const drained = (async (): Promise<void> => {
      await this.running;
      if (!this.failing) {
        this.kick();
        await this.running;
      }
    })();
    // A stop of the supervisor does not wait out a slow link: what is left is shipped by the next archiver (sealLeftovers).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((res) => (timer = setTimeout(res, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    this.closed = true;
  }

  private push(j: Job): void {
    if (this.closed) return;
    this.jobs.push(j);
    if (!this.running && Date.now() >= this.retryAt) this.running = this.drain().finally(() => (this.running = undefined));
  }

  private async drain(): Promise<void> {
    for (let j = this.jobs[0]; j; j = this.jobs[0]) {
      try {
        await j.run();
        this.jobs.shift();
        if (this.failing) this.report(`binlog archive: ${this.c.name} answers again; its backlog is shipped`, true);
        this.failing = false;
      } catch (e) {
        if (!this.failing) this.report(`binlog archive: ${j.what} to ${this.c.name} failed (retried every ${RETRY_MS / 1000} s): ${describeError(e).split('\n')[0] ?? ''}`, false);
        this.failing = true;
        this.retryAt = Date.now() + RETRY_MS;
        return;
      }
    }
  }
}
