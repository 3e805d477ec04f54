import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { eventsSize, readEventsFrom, type ClusterEvent } from '../shared/events.js';
import { tailFile } from '../shared/files.js';
import { sleep } from '../shared/retry.js';
import { CLI_BUNDLE } from '../drivers/index.js';

/** Bound on a detached start as seen from the caller: every service has its own bounded health wait. */
const DETACHED_START_TIMEOUT_MS = 10 * 60_000;
/** A failed start stops what it started first: bounded by the longest stop graces. */
const FAILED_STOP_TIMEOUT_MS = 120_000;

/**
 * Runs the supervisor as a detached process (`_supervise`, its output in `supervisor.log`) and
 * follows its events until the cluster is ready (`up --detach`, the supervised runtime's `up`).
 * The caller has checked that no other supervisor runs and written topology.json.
 */
export async function startDetached(topo: Topology, print: (e: ClusterEvent) => void): Promise<void> {
  let offset = eventsSize(topo.stateDir);
  const logFile = path.join(topo.stateDir, 'supervisor.log');
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [CLI_BUNDLE, '_supervise', '--state', topo.stateDir], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  child.unref();
  let exitCode: number | null | undefined;
  child.once('exit', (code) => (exitCode = code ?? 1));
  const deadline = Date.now() + DETACHED_START_TIMEOUT_MS;
  for (;;) {
    const r = readEventsFrom(topo.stateDir, offset);
    offset = r.offset;
    for (const e of r.events) {
      print(e);
      if (e.type === 'cluster.ready') return;
      if (e.type === 'cluster.failed') {
        // Wait (bounded) for the supervisor to stop what it started, so nothing outlives `up`.
        const stopDeadline = Date.now() + FAILED_STOP_TIMEOUT_MS;
        while (exitCode === undefined && Date.now() < stopDeadline) {
          const more = readEventsFrom(topo.stateDir, offset);
          offset = more.offset;
          more.events.forEach(print);
          await sleep(200);
        }
        throw new HastackError(ErrorCode.ENGINE_START_FAILED, `start failed: ${e.message}\nthe supervisor stopped what it had started; its log: ${logFile}`);
      }
    }
    if (exitCode !== undefined) {
      throw new HastackError(
        ErrorCode.ENGINE_START_FAILED,
        `the supervisor exited (code ${exitCode}) before the cluster was ready; last lines of ${logFile}:\n${tailFile(logFile, 15)}`,
      );
    }
    if (Date.now() > deadline) throw new HastackError(ErrorCode.HEALTH_TIMEOUT, `cluster not ready after ${DETACHED_START_TIMEOUT_MS / 1000} s; see ${logFile}`);
    await sleep(200);
  }
}
