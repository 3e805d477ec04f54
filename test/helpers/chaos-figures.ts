import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

/** The fields of a `chaos run --json` report the host tests print and assert. */
export interface ChaosJson {
  readonly requests: number;
  readonly failed: number;
  readonly ackedWrites: number;
  readonly lostWrites: number;
  readonly duplicateWrites: number;
  readonly jobsLost: number;
  readonly firstWriteAfterFaultMs: number | null;
  readonly crashPlan: { readonly ok: boolean; readonly finishedMs?: number } | null;
  readonly promisesBroken: readonly unknown[];
}

export function readChaosJson(file: string, output: string): ChaosJson {
  assert.ok(fs.existsSync(file), `no report:\n${output}`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ChaosJson;
}

export const secs = (ms: unknown): string => (typeof ms === 'number' ? `${(ms / 1000).toFixed(1)} s` : '-');

/**
 * One line of the ERP chaos table (as in the closing notes): requests, failed, orders
 * acknowledged/lost/duplicated, first order after the kill, crash plan done.
 */
export function chaosTableLine(label: string, r: ChaosJson): string {
  return (
    `${label}: requests ${r.requests}, failed ${r.failed}; orders acknowledged ${r.ackedWrites}, lost ${r.lostWrites}, duplicated ${r.duplicateWrites}; ` +
    `first order after the kill ${secs(r.firstWriteAfterFaultMs)}; crash plan done ${secs(r.crashPlan?.finishedMs)} after the kill`
  );
}

/**
 * When a chaos run's first fault was injected (ms since the epoch), from the report kept beside
 * the cluster's state (its path is in the run's output: `report ID kept in DIR/reports`).
 */
export function faultInjectedAt(chaosStdout: string): number | undefined {
  const kept = /report (\S+) kept in (\S+)\/reports /.exec(chaosStdout);
  if (!kept) return undefined;
  const doc = JSON.parse(fs.readFileSync(path.join(kept[2] as string, 'reports', `${kept[1] as string}.json`), 'utf8')) as {
    startedAt?: string;
    faults?: Array<{ injectedAt: number }>;
  };
  return doc.startedAt !== undefined && doc.faults?.[0] ? Date.parse(doc.startedAt) + doc.faults[0].injectedAt : undefined;
}
