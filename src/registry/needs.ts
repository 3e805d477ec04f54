import type { Config, ServiceKind } from '../config/index.js';
import type { ProgramNeed } from './descriptor.js';
import { SERVICES, kindsInStartOrder } from './kinds.js';
import { SUBSTRATE_TOOLS, TEST_ONLY_TOOLS, type EngineBinary, type SubstrateName } from './programs.js';

/**
 * What each machine needs from Debian, derived from the service descriptors and the substrate's
 * tools: `doctor`, `setup`, `setup --tests` (the test suite's installer) and deploy's preflight
 * all read these, never a list of their own.
 */

function onlyOnce<T extends EngineBinary>(list: readonly T[]): T[] {
  const seen = new Set<string>();
  return list.filter((b) => !seen.has(b.binary) && seen.add(b.binary));
}

function strip(p: ProgramNeed): EngineBinary {
  const { onHostWhen: _when, checkPackage: _pkg, ...b } = p;
  return b;
}

/** Every program of every service kind, each once, in start order (what `doctor` checks). */
export function enginePrograms(): EngineBinary[] {
  return onlyOnce(kindsInStartOrder().flatMap((k) => SERVICES[k].programs.map(strip)));
}

/** What the machine that runs hastack needs for `substrate`: the engines and the substrate's tools. */
export function machinePrograms(substrate: SubstrateName): EngineBinary[] {
  return onlyOnce([...enginePrograms(), ...SUBSTRATE_TOOLS[substrate]]);
}

/** Every program the test suite needs, each once, all required. */
export function testSuitePrograms(): EngineBinary[] {
  return onlyOnce([...enginePrograms(), ...SUBSTRATE_TOOLS.netns, ...SUBSTRATE_TOOLS.hosts, ...TEST_ONLY_TOOLS]).map((b) => ({ ...b, required: true }));
}

/** What one host carrying `kinds` needs under `config`: binaries to find, and packages to ask dpkg about (app.packages on app and worker hosts). Pure. */
export function hostPrograms(config: Config, kinds: readonly ServiceKind[]): { binaries: EngineBinary[]; packages: string[] } {
  const wanted = kindsInStartOrder()
    .filter((k) => kinds.includes(k))
    .flatMap((k) => SERVICES[k].programs)
    .filter((p) => p.onHostWhen === undefined || p.onHostWhen(config));
  const binaries = onlyOnce(wanted.filter((p) => p.checkPackage !== true).map(strip));
  // A command app's runtime (app.packages: gunicorn, python3-pymysql, ...) on every host that runs it.
  const appPackages = kinds.includes('app') || kinds.includes('worker') ? config.app.packages : [];
  const packages = [...new Set([...wanted.filter((p) => p.checkPackage === true).map((p) => p.package), ...appPackages])];
  return { binaries, packages };
}
