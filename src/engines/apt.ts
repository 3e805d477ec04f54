import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { ErrorCode, HastackError } from '../shared/errors.js';

/*
 * Installing Debian packages with apt-get, non-interactively: the one way `hastack setup`, `up`
 * (its engines) and the benchmarks (their load generators and anchors, bench/needs.ts) install
 * what they miss. Only as root on Debian/Ubuntu; elsewhere the one command to run is named.
 */

/** The one apt-get line that installs `packages` (with sudo unless this is root). */
export function installCommand(packages: readonly string[]): string {
  const sudo = os.userInfo().uid === 0 ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

export interface AptInstallOptions {
  /** What they are missing for, in the errors: "for its engines" makes "missing for its engines: ...". */
  readonly what: string;
  /** Where the "installing ..." line goes. */
  readonly say: (line: string) => void;
  /** apt-get's own output to stderr (stdout holds a JSON document), else inherited. */
  readonly outputToStderr?: boolean;
  /** Runs after `apt-get update`, before the install (setup checks that app packages have a candidate). */
  readonly beforeInstall?: () => void;
}

/**
 * `apt-get update`, then `apt-get install -y --no-install-recommends PACKAGES`, with
 * DEBIAN_FRONTEND=noninteractive. Not root, or no apt-get: ENGINE_MISSING (exit 3) naming the
 * command to run. An apt-get that fails: SETUP_FAILED.
 */
export function aptInstall(packages: readonly string[], o: AptInstallOptions): void {
  const cmd = installCommand(packages);
  if (os.userInfo().uid !== 0) {
    throw new HastackError(ErrorCode.ENGINE_MISSING, `missing ${o.what}: ${packages.join(', ')}; as root run: ${cmd}`, { details: { packages, command: cmd } });
  }
  if (!fs.existsSync('/usr/bin/apt-get')) {
    throw new HastackError(ErrorCode.ENGINE_MISSING, `no apt-get here; install ${packages.join(', ')} with this system's package manager`, { details: { packages } });
  }
  o.say(`installing ${packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-q'],
    ['install', '-y', '-q', '--no-install-recommends', ...packages],
  ]) {
    if (args[0] === 'install') o.beforeInstall?.();
    const res = spawnSync('apt-get', args, { stdio: o.outputToStderr ? ['inherit', 2, 2] : 'inherit', env });
    if (res.status !== 0) throw new HastackError(ErrorCode.SETUP_FAILED, `apt-get ${args[0]} failed (exit ${res.status}); run "${cmd}" by hand to see why`);
  }
}
