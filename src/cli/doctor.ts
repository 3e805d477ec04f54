import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { checkEngines } from '../engines/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { table } from './output.js';

export interface DoctorReport {
  readonly ok: boolean;
  readonly missingPackages: string[];
  readonly rows: string[][];
}

export function doctorReport(): DoctorReport {
  const checks = checkEngines();
  const missing = [...new Set(checks.filter((c) => !c.found).map((c) => c.package))];
  const rows = [['binary', 'package', 'found', 'version'], ...checks.map((c) => [c.binary, c.package, c.found ? 'yes' : 'MISSING', c.version ?? ''])];
  const major = Number(process.versions.node.split('.')[0]);
  rows.push(['node', 'nodejs', major >= 20 ? 'yes' : 'TOO OLD (need 20+)', process.versions.node]);
  return { ok: missing.length === 0 && major >= 20, missingPackages: missing, rows };
}

export function installCommand(packages: readonly string[]): string {
  const sudo = os.userInfo().uid === 0 ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

export function printDoctor(r: DoctorReport): void {
  process.stdout.write(table(r.rows) + '\n');
  if (r.missingPackages.length > 0) {
    process.stdout.write(`\nMissing engines. Install them with:\n  ${installCommand(r.missingPackages)}\n(or run "hastack setup" as root)\n`);
  } else {
    process.stdout.write('\nEvery engine hastack needs is installed.\n');
  }
}

/** Installs missing engines with apt-get; only as root on Debian/Ubuntu. Output streams through. */
export function setupEngines(opts: { dryRun: boolean }): void {
  const r = doctorReport();
  if (r.missingPackages.length === 0) {
    process.stdout.write('Every engine hastack needs is installed; nothing to do.\n');
    return;
  }
  const cmd = installCommand(r.missingPackages);
  if (opts.dryRun) {
    process.stdout.write(`would run: ${cmd}\n`);
    return;
  }
  if (os.userInfo().uid !== 0) {
    throw new HastackError(ErrorCode.ENGINE_MISSING, `missing engines (${r.missingPackages.join(', ')}); as root run: ${cmd}`);
  }
  if (!fs.existsSync('/usr/bin/apt-get')) {
    throw new HastackError(ErrorCode.SETUP_FAILED, `no apt-get here; install ${r.missingPackages.join(', ')} with this system's package manager`);
  }
  process.stdout.write(`installing ${r.missingPackages.join(' ')} with apt-get\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-q'], ['install', '-y', '-q', '--no-install-recommends', ...r.missingPackages]]) {
    const res = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (res.status !== 0) throw new HastackError(ErrorCode.SETUP_FAILED, `apt-get ${args[0]} failed (exit ${res.status}); run "${cmd}" by hand to see why`);
  }
  const after = doctorReport();
  if (!after.ok) throw new HastackError(ErrorCode.SETUP_FAILED, `still missing after install: ${after.missingPackages.join(', ')}`);
}
