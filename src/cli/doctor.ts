import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { aptInstall, checkEngines, installCommand } from '../engines/index.js';
import { SUBSTRATE_TOOLS, machinePrograms, testSuitePrograms, type EngineBinary, type SubstrateName } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { table } from './output.js';
import { setupDocument, writeJson } from './plan-json.js';

export interface DoctorReport {
  readonly ok: boolean;
  readonly missingPackages: string[];
  readonly rows: string[][];
  /** What was checked, for messages: "its engines and the netns substrate", "the test suite". */
  readonly scope: string;
  /** Missing app.packages apt has no candidate for: `setup` cannot install them, and says so by name. */
  readonly noCandidate: readonly string[];
}

/**
 * What to check: the engines plus the configured substrate's tools (doctor, setup, up), or
 * everything the test suite needs (`setup --tests`, `npm test`, `.ci/run`).
 */
export type DoctorScope = { readonly substrate: SubstrateName; readonly appPackages?: readonly string[] } | { readonly tests: true };

/** Whether dpkg has `pkg` installed (`ii`), and its version. */
function dpkgInstalled(pkg: string): string | undefined {
  const r = spawnSync('dpkg-query', ['-W', '-f=${db:Status-Abbrev} ${Version}', pkg], { encoding: 'utf8' });
  const m = /^ii\s+(\S+)/.exec(r.stdout ?? '');
  return r.status === 0 && m ? (m[1] ?? '') : undefined;
}

/** Whether apt has a version of `pkg` it could install (`Candidate: (none)` or an unknown name: no). */
export function aptCandidate(pkg: string): boolean {
  const r = spawnSync('apt-cache', ['policy', pkg], { encoding: 'utf8' });
  return r.status === 0 && /Candidate: [0-9]/.test(r.stdout ?? '');
}

/** The app's Debian packages (app.packages): rows, the missing ones, and those apt has no candidate for. */
function appPackageChecks(pkgs: readonly string[]): { rows: string[][]; missing: string[]; noCandidate: string[] } {
  const rows: string[][] = [];
  const missing: string[] = [];
  const noCandidate: string[] = [];
  for (const pkg of pkgs) {
    const version = dpkgInstalled(pkg);
    if (version !== undefined) {
      rows.push([`(app.packages)`, pkg, 'yes', version]);
      continue;
    }
    missing.push(pkg);
    const can = aptCandidate(pkg);
    if (!can) noCandidate.push(pkg);
    rows.push([`(app.packages)`, pkg, can ? 'MISSING' : 'MISSING (apt has no candidate)', '']);
  }
  return { rows, missing, noCandidate };
}

/** What to look for, from the registry: every service kind's programs plus the substrate's tools. */
function binariesOf(scope: DoctorScope): { list: readonly EngineBinary[]; label: string } {
  if ('tests' in scope) return { list: testSuitePrograms(), label: 'the test suite' };
  const label = SUBSTRATE_TOOLS[scope.substrate].length === 0 ? 'its engines' : `its engines and the ${scope.substrate} substrate`;
  return { list: machinePrograms(scope.substrate), label };
}

export function doctorReport(scope: DoctorScope = { substrate: 'local' }): DoctorReport {
  const { list, label } = binariesOf(scope);
  const checks = checkEngines(list);
  const missing = [...new Set(checks.filter((c) => !c.found).map((c) => c.package))];
  const rows = [['binary', 'package', 'found', 'version'], ...checks.map((c) => [c.binary, c.package, c.found ? 'yes' : 'MISSING', c.version ?? ''])];
  const major = Number(process.versions.node.split('.')[0]);
  rows.push(['node', 'nodejs', major >= 20 ? 'yes' : 'TOO OLD (need 20+)', process.versions.node]);
  const app = appPackageChecks('substrate' in scope ? (scope.appPackages ?? []) : []);
  rows.push(...app.rows);
  const all = [...new Set([...missing, ...app.missing])];
  return { ok: all.length === 0 && major >= 20, missingPackages: all, rows, scope: app.rows.length > 0 ? `${label} and app.packages` : label, noCandidate: app.noCandidate };
}

export function printDoctor(r: DoctorReport): void {
  process.stdout.write(table(r.rows) + '\n');
  if (r.noCandidate.length > 0) {
    process.stdout.write(`\napp.packages: apt has no installation candidate for ${r.noCandidate.join(', ')} (check the name, or run "apt-get update")\n`);
  }
  if (r.missingPackages.length > 0) {
    process.stdout.write(
      `\nMissing for ${r.scope}. Install them with:\n  ${installCommand(r.missingPackages)}\n(or run "hastack setup${r.scope === 'the test suite' ? ' --tests' : ''}" as root)\n`,
    );
  } else {
    process.stdout.write(`\nEverything hastack needs for ${r.scope} is installed.\n`);
  }
}

/**
 * Installs what the scope lacks with apt-get; only as root on Debian/Ubuntu. Output streams
 * through. Under `-o json` one document (plan-json.ts `setupDocument`) is printed, apt-get's
 * output going to stderr.
 */
export function setupEngines(opts: { dryRun: boolean; json?: boolean; scope?: DoctorScope }): void {
  const scope = opts.scope ?? { substrate: 'local' };
  const json = opts.json === true;
  const say = (line: string): void => void (json ? process.stderr : process.stdout).write(`${line}\n`);
  const r = doctorReport(scope);
  const cmd = installCommand(r.missingPackages);
  const document = (dryRun: boolean): void => {
    if (json) writeJson(setupDocument(r, cmd, dryRun));
  };
  if (r.missingPackages.length === 0) {
    if (json) return document(opts.dryRun);
    process.stdout.write(`Everything hastack needs for ${r.scope} is installed; nothing to do.\n`);
    return;
  }
  if (opts.dryRun) {
    if (json) return document(true);
    process.stdout.write(`would run: ${cmd}\n`);
    return;
  }
  installPackages(r, say, json);
  const after = doctorReport(scope);
  if (!after.ok) throw new HastackError(ErrorCode.SETUP_FAILED, `still missing after install: ${after.missingPackages.join(', ')}`);
  return document(false);
}

/** apt-get update and install of what `r` lacks (src/engines/apt.ts), as root on Debian; throws ENGINE_MISSING (exit 3) elsewhere. */
function installPackages(r: DoctorReport, say: (line: string) => void, json: boolean): void {
  const sshdBefore = runningSshdPid();
  aptInstall(r.missingPackages, {
    what: `for ${r.scope}`,
    say,
    outputToStderr: json,
    beforeInstall: () => {
      // After the update: an app package apt still has no candidate for is named, not left to apt's own error.
      const none = r.noCandidate.filter((p) => !aptCandidate(p));
      if (none.length > 0) {
        throw new HastackError(
          ErrorCode.SETUP_FAILED,
          `app.packages: apt has no installation candidate for ${none.join(', ')}; check the name (apt-cache search), or add the repository that has it, then run again`,
          { details: { packages: none } },
        );
      }
    },
  });
  if (r.missingPackages.includes('openssh-server')) stopSshdTheInstallStarted(sshdBefore, say);
}

function runningSshdPid(): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync('/run/sshd.pid', 'utf8').trim(), 10);
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * The test bed needs only the sshd binary, but where init scripts run (no systemd as PID 1),
 * openssh-server's postinst starts a system sshd on port 22: a machine should not grow an open
 * port because its tests ran. Stop the one this install started (by its pid file), and only that
 * one. Under systemd the package enables ssh.service: say so rather than disable it behind the
 * operator's back.
 */
function stopSshdTheInstallStarted(before: number | undefined, say: (line: string) => void): void {
  const pid = runningSshdPid();
  if (pid === undefined || pid === before) return;
  if (fs.existsSync('/run/systemd/system')) {
    say(`note: installing openssh-server started the system's sshd (pid ${pid}); the tests do not need it: "systemctl disable --now ssh" stops it`);
    return;
  }
  say(`stopping the sshd that installing openssh-server started (pid ${pid}); the tests run their own`);
  process.kill(pid, 'SIGTERM');
}
