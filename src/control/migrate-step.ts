import fs from 'node:fs';
import path from 'node:path';
import type { ServiceInstance, Topology } from '../config/index.js';
import { CLI_MAIN } from '../drivers/index.js';
import { EngineStartError } from '../shared/errors.js';
import type { ClusterEvent } from '../shared/events.js';
import { tailFile } from '../shared/files.js';
import type { Substrate } from '../substrate/index.js';

/** Migrations of a fresh ERP take well under a second; 2 minutes bounds a big user migration. */
const MIGRATE_TIMEOUT_MS = 120_000;
/** Lines of the migrations' output kept in their event: enough for a migration tool's summary. */
const MIGRATE_EVENT_LINES = 40;
const LOG_TAIL_LINES = 15;

/** The last `lines` lines written to `file` past `offset` (at most its last 64 KiB). */
function outputSince(file: string, offset: number, lines: number): string {
  try {
    const size = fs.statSync(file).size;
    const from = Math.max(offset, size - 64 * 1024);
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(Math.max(0, size - from));
      fs.readSync(fd, buf, 0, buf.length, from);
      return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** The supervisor's migrate step of `up`: `_migrate` as a child process, bounded, its output in the event log. */
export async function runMigrations(topo: Topology, substrate: Substrate, event: (e: Omit<ClusterEvent, 'ts'>) => void): Promise<void> {
  event({ type: 'step', message: "running the app's migrations" });
  const logFile = path.join(topo.stateDir, 'migrate.log');
  const fake: ServiceInstance = { node: '-', kind: 'app', address: '127.0.0.1', port: 0, dir: topo.stateDir, id: 'migrate' };
  // migrate.log keeps every run; the event gets this run's output only (from this offset).
  const offset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const proc = substrate.spawn(fake, { command: process.execPath, args: [CLI_MAIN, '_migrate', '--state', topo.stateDir] }, logFile);
  const timer = setTimeout(() => substrate.signal(proc.pid, 'SIGKILL'), MIGRATE_TIMEOUT_MS);
  const info = await proc.exited.finally(() => clearTimeout(timer));
  // The output goes to the event log too (bounded): app.migrate is the operator's command, and
  // its output is what they look for after an `up` or a `deploy`.
  const output = outputSince(logFile, offset, MIGRATE_EVENT_LINES);
  if (info.code !== 0) {
    event({ type: 'step', message: 'migrations failed', data: { code: info.code, signal: info.signal, output } });
    throw new EngineStartError('migrations', `exited with ${info.signal ?? `code ${info.code}`}`, tailFile(logFile, LOG_TAIL_LINES), logFile);
  }
  event({ type: 'step', message: 'migrations done', data: { output } });
}
