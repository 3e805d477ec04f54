import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_BUNDLE } from '../../src/drivers/index.js';
import { LocalSubstrate } from '../../src/substrate/index.js';
import { REPO_ROOT } from '../../kit/paths.js';

export { REPO_ROOT };
// The bundled CLI, as ./hastack and the package's bin run it (scripts/bundle-cli.mjs); the
// unbundled one after a bare tsc, which the bundle would predate.
export const CLI = CLI_BUNDLE;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the compiled CLI; bounded so a hung command fails the test instead of CI. */
export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string>; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Standard input: `input`, or nothing (end of file at once, as for a command run from cron).
    child.stdin.end(opts.input ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hastack ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 180_000} ms\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 180_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `hastack-${prefix}-`));
}

/** Alive and not a zombie: the same test the supervisor uses. */
export function pidAlive(pid: number): boolean {
  return new LocalSubstrate().isAlive(pid);
}

/** Writes the report part of a `chaos run` output (from `scenario NAME  (` to its verdict line) to the test log. */
export function printChaosReport(stdout: string, scenario: string): void {
  const report = stdout.slice(stdout.indexOf(`scenario ${scenario}  (`));
  process.stdout.write(`\n${report.slice(0, report.indexOf('\n', report.indexOf('verdict')))}\n`);
}
