import fs from 'node:fs';
import path from 'node:path';
import { aptInstall, checkEngines, installCommand } from '../src/engines/index.js';
import { ErrorCode, HastackError, isHastackError } from '../src/shared/errors.js';

/*
 * What each benchmark runs beside hastack (its load generator, its anchors), installed the way
 * `hastack setup` installs the engines (src/engines/apt.ts): as root on Debian with apt-get,
 * non-interactively; anywhere else the one apt-get command is printed and the bench exits 3 (the
 * README's "engines missing").
 */

export interface BenchTool {
  /** The program looked for (PATH, /usr/sbin, /usr/bin: where `hastack doctor` looks). */
  readonly binary: string;
  /** The Debian package that has it. */
  readonly package: string;
  readonly purpose: string;
}

export const BENCH_TOOLS = {
  wrk: { binary: 'wrk', package: 'wrk', purpose: 'HTTP load generator' },
  haproxy: { binary: 'haproxy', package: 'haproxy', purpose: 'the anchor load balancer' },
  nginx: { binary: 'nginx', package: 'nginx', purpose: 'the second anchor load balancer' },
  openssl: { binary: 'openssl', package: 'openssl', purpose: 'TLS handshakes (s_time) and the certificate' },
  curl: { binary: 'curl', package: 'curl', purpose: 'a check that each proxy answers over HTTPS' },
  memcached: { binary: 'memcached', package: 'memcached', purpose: 'the cache nodes' },
} as const satisfies Record<string, BenchTool>;

/** The tools of `tools` that are not installed. */
export function missingTools(tools: readonly BenchTool[]): BenchTool[] {
  const checks = checkEngines(tools.map((t) => ({ ...t, required: true })));
  return tools.filter((t) => checks.find((c) => c.binary === t.binary)?.found !== true);
}

/**
 * The benches start the tools by name: a daemon found in /usr/sbin (where `doctor` looks too)
 * while a non-root PATH lacks it gets its directory added to this process's PATH.
 */
function reachByName(tools: readonly BenchTool[]): void {
  const dirs = (process.env.PATH ?? '').split(path.delimiter);
  for (const c of checkEngines(tools.map((t) => ({ ...t, required: true })))) {
    const dir = c.path === undefined ? undefined : path.dirname(c.path);
    if (dir !== undefined && !dirs.includes(dir)) dirs.push(dir);
  }
  process.env.PATH = dirs.filter((d) => d !== '').join(path.delimiter);
}

/**
 * Returns once every tool of `tools` is installed: at once when they are; as root on Debian
 * after `apt-get install` of the missing packages; otherwise prints the one apt-get command on
 * stderr and exits 3. apt-get's own output goes to stderr (a bench's last stdout line is its JSON).
 */
export function ensureTools(bench: string, tools: readonly BenchTool[]): void {
  const missing = missingTools(tools);
  if (missing.length === 0) return reachByName(tools);
  const packages = [...new Set(missing.map((t) => t.package))];
  const what = `for bench ${bench}`;
  try {
    if (!fs.existsSync('/etc/debian_version')) {
      throw new HastackError(ErrorCode.ENGINE_MISSING, `missing ${what}: ${packages.join(', ')}; this is not Debian: install them with its package manager`);
    }
    aptInstall(packages, { what, say: (l) => console.error(`bench ${bench}: ${l}`), outputToStderr: true });
  } catch (e) {
    if (!isHastackError(e) || e.code !== ErrorCode.ENGINE_MISSING) throw e;
    // Not root: the one command (with sudo); no apt-get or not Debian: what to install.
    const how = e.details.command !== undefined ? `install with:\n  ${installCommand(packages)}` : e.message;
    console.error(`bench ${bench}: ${missing.map((t) => t.binary).join(', ')} not installed; ${how}`);
    process.exit(3);
  }
  const still = missingTools(tools);
  if (still.length > 0) throw new Error(`bench ${bench}: still missing after apt-get install: ${still.map((t) => t.binary).join(', ')}`);
  reachByName(tools);
}
