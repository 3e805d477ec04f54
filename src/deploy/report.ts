import type { AgentPlan } from '../hosts/index.js';
import type { Verdict } from './preflight.js';

/** What `deploy` found and means to do on one host (printed by every run, dry or not). */
export interface HostReport {
  readonly node: string;
  readonly target: string;
  readonly facts?: { readonly os: string; readonly nodeVersion: string; readonly systemd: boolean; readonly pid1: string; readonly installed: string };
  readonly verdicts: readonly Verdict[];
  readonly missingPackages: readonly string[];
  /** The bundle stamp to install, when the host has another (or none). */
  readonly installBundle: string | undefined;
  /** The agent's plan, when this bundle is installed there already. */
  readonly plan: AgentPlan | undefined;
  /** The node's service ids, for a host hastack was never installed on. */
  readonly services: readonly string[];
}

/** One thing deploy does on a host, in order; `files` carries each changed file's diff. */
export interface HostStep {
  readonly step: 'packages' | 'bundle' | 'new' | 'files' | 'units';
  readonly does: string;
  /** `files` with --diff: each changed file with its differences. */
  readonly diffs?: readonly { readonly path: string; readonly diff: string }[];
}

/** What deploy would do on one reachable host, in order (none for a host it could not look at). Pure. */
export function hostSteps(r: HostReport, withDiff: boolean): HostStep[] {
  const f = r.facts;
  if (!f) return [];
  const steps: HostStep[] = [];
  if (r.missingPackages.length > 0) steps.push({ step: 'packages', does: `apt-get install ${r.missingPackages.join(' ')}` });
  if (r.installBundle !== undefined) steps.push({ step: 'bundle', does: `install hastack ${r.installBundle} (installed now: ${f.installed || 'none'})` });
  if (!r.plan) {
    steps.push({ step: 'new', does: `new: the cluster's files and a unit for each of ${r.services.join(', ')}; start them` });
    return steps;
  }
  const changed = r.plan.files.filter((x) => x.status !== 'same');
  const diffs = changed.flatMap((x) => (x.diff === undefined ? [] : [{ path: x.path, diff: x.diff }]));
  steps.push({
    step: 'files',
    does: `files: ${changed.length === 0 ? `all ${r.plan.files.length} as configured` : changed.map((x) => `${x.path} (${x.status})`).join(', ')}`,
    ...(withDiff ? { diffs } : {}),
  });
  const restart = r.plan.units.filter((u) => r.installBundle !== undefined || u.changed || !u.active);
  const keep = r.plan.units.length - restart.length;
  steps.push({
    step: 'units',
    does:
      restart.length === 0
        ? `units: all ${keep} running as configured`
        : `units: start ${restart.map((u) => `${u.name}${u.active ? ' (restart: changed)' : ''}`).join(', ')}${keep > 0 ? `; ${keep} unchanged` : ''}`,
  });
  return steps;
}

/** The lines `deploy` prints for one host (its steps from `hostSteps`). Pure. */
export function describeHostPlan(r: HostReport, withDiff: boolean): string[] {
  const out: string[] = [];
  const f = r.facts;
  out.push(
    f
      ? `host ${r.node} (${r.target}): ${f.os}, node ${f.nodeVersion || 'missing'}, ${f.systemd ? 'systemd' : `no systemd (PID 1 is ${f.pid1 || 'unknown'}): services will run under hastack's keeper and will not start at boot`}`
      : `host ${r.node} (${r.target}): not reachable`,
  );
  for (const v of r.verdicts) out.push(`  ${v.level === 'error' ? 'ERROR' : 'warning'}: ${v.message}`);
  for (const s of hostSteps(r, withDiff)) {
    out.push(`  ${s.does}`);
    for (const d of s.diffs ?? []) {
      out.push(
        `  --- ${d.path}`,
        ...d.diff
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => `  ${l}`),
      );
    }
  }
  return out;
}
