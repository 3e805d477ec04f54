import fs from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../shared/files.js';

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

export function readRunState(stateDir: string): RunState | undefined {
  try {
    return JSON.parse(fs.readFileSync(runStateFile(stateDir), 'utf8')) as RunState;
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
