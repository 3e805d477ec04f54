import fs from 'node:fs';
import path from 'node:path';
import { readJsonState, writeJsonAtomic } from '../shared/files.js';

/**
 * What the supervisor is running, in `<stateDir>/run.json`: `status`, `logs` and `down` read it,
 * and `down` can stop every process from it even when the supervisor itself was killed.
 */
export interface RunState {
  readonly supervisorPid: number;
  readonly state: 'starting' | 'ready' | 'stopping' | 'failed';
  readonly startedAt: string;
  readonly services: Readonly<Record<string, ServiceRunState>>;
}

export interface ServiceRunState {
  readonly pid: number;
  readonly startedAt: string;
  readonly restarts: number;
}

export function runStateFile(stateDir: string): string {
  return path.join(stateDir, 'run.json');
}

function runStateProblem(v: unknown): string | undefined {
  const o = v as Partial<RunState> | null;
  if (typeof o !== 'object' || o === null) return 'not an object';
  if (typeof o.supervisorPid !== 'number' || !Number.isInteger(o.supervisorPid) || o.supervisorPid <= 0) return 'no supervisorPid';
  if (typeof o.startedAt !== 'string') return 'no startedAt';
  if (typeof o.services !== 'object' || o.services === null) return 'no services';
  return undefined;
}

/**
 * The recorded run: undefined only when there is none. An unparsable run.json throws a
 * StateCorruptError: read as "not running", it let a second supervisor start on the same data.
 */
export function readRunState(stateDir: string): RunState | undefined {
  return readJsonState<RunState>(
    runStateFile(stateDir),
    runStateProblem,
    'A supervisor may still run this cluster: look for it ("ps -ef | grep _supervise", and the services\' processes under ' +
      `${stateDir}), stop what you find by its pid, then remove the file and run the command again`,
  );
}

/** For displays (the dashboard): a corrupt run.json shows as no pids rather than failing the page. */
export function readRunStateForDisplay(stateDir: string): RunState | undefined {
  try {
    return readRunState(stateDir);
  } catch {
    return undefined;
  }
}

export function writeRunState(stateDir: string, state: RunState): void {
  writeJsonAtomic(runStateFile(stateDir), state);
}

export function removeRunState(stateDir: string): void {
  fs.rmSync(runStateFile(stateDir), { force: true });
}

/**
 * The event message the supervisor writes once it has re-read `secrets.json`: a secret rotation
 * waits for it before it drops the old passwords.
 */
export const SECRETS_RELOADED = 'secrets.json changed: the supervisor uses the new passwords from now on';
