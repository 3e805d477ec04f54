import assert from 'node:assert/strict';
import fs from 'node:fs';

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
