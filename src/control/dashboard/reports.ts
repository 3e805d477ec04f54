import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, HastackError } from '../../shared/errors.js';
import { writeJsonAtomic } from '../../shared/files.js';
import type { ReportSummary } from './types.js';

/**
 * Chaos reports kept beside the cluster's state, `<stateDir>/reports/<id>.json`, so the dashboard
 * can list the last runs whatever `--json` path (if any) the operator gave. The id sorts by time.
 */
export function reportsDir(stateDir: string): string {
  return path.join(stateDir, 'reports');
}

/** Ids are file names we made: letters, digits, dash, dot; anything else is refused (no `..`). */
const ID = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

/** Keeps the last this many reports: each is well under 100 KB, and the list stays readable. */
const KEEP = 50;

export function reportId(scenario: string, startedAt: Date): string {
  const safe = scenario.replace(/[^A-Za-z0-9-]/g, '-');
  return `${startedAt.toISOString().replace(/[:.]/g, '-')}-${safe}`;
}

/** Stores one report document (the `--json` document plus its timeline); returns its id. */
export function saveReport(stateDir: string, scenario: string, doc: Record<string, unknown>, at = new Date()): string {
  const id = reportId(scenario, at);
  const dir = reportsDir(stateDir);
  fs.mkdirSync(dir, { recursive: true });
  writeJsonAtomic(path.join(dir, `${id}.json`), { id, startedAt: at.toISOString(), ...doc });
  const all = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  for (const old of all.slice(0, Math.max(0, all.length - KEEP))) fs.rmSync(path.join(dir, old), { force: true });
  return id;
}

export function readReport(stateDir: string, id: string): Record<string, unknown> {
  if (!ID.test(id)) throw new HastackError(ErrorCode.BAD_REQUEST, `"${id}" is not a report id; GET /v1/reports lists them`);
  try {
    return JSON.parse(fs.readFileSync(path.join(reportsDir(stateDir), `${id}.json`), 'utf8')) as Record<string, unknown>;
  } catch {
    throw new HastackError(ErrorCode.NOT_FOUND, `no report "${id}"; GET /v1/reports lists them`);
  }
}

/** Newest first. A file that does not parse is skipped (a run interrupted while writing). */
export function listReports(stateDir: string): ReportSummary[] {
  let files: string[];
  try {
    files = fs.readdirSync(reportsDir(stateDir)).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const out: ReportSummary[] = [];
  for (const f of files.sort().reverse()) {
    try {
      const r = readReport(stateDir, f.slice(0, -'.json'.length));
      out.push({
        id: String(r.id),
        scenario: String(r.scenario ?? '?'),
        startedAt: String(r.startedAt ?? ''),
        availability: typeof r.availability === 'number' ? r.availability : 0,
        firstAttemptAvailability: typeof r.firstAttemptAvailability === 'number' ? r.firstAttemptAvailability : null,
        naiveAvailability: typeof r.naiveAvailability === 'number' ? r.naiveAvailability : null,
        promisesBroken: Array.isArray(r.promisesBroken) ? r.promisesBroken.map(String) : [],
      });
    } catch {
      // skipped, see above
    }
  }
  return out;
}
