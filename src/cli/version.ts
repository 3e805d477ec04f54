import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { checkEngines } from '../engines/index.js';
import { enginePrograms } from '../registry/index.js';
import { isJson, table, type OutputOptions } from './output.js';
import { packageRoot } from '../shared/module-path.js';

export interface VersionReport {
  readonly hastack: string;
  /** The checkout's commit (`git rev-parse`), with `-dirty` for uncommitted changes; absent outside a checkout. */
  readonly commit?: string;
  readonly node: string;
  /** Each engine program of the registry: its version, or absent when it is not installed. */
  readonly engines: ReadonlyArray<{ readonly binary: string; readonly package: string; readonly version?: string; readonly found: boolean }>;
}

function gitCommit(root: string): string | undefined {
  if (!fs.existsSync(path.join(root, '.git'))) return undefined;
  // 2 s: git answers a local rev-parse in milliseconds; a wedged one must not hang --version.
  const head = spawnSync('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', timeout: 2000 });
  if (head.status !== 0) return undefined;
  const dirty = spawnSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', timeout: 2000 });
  return `${head.stdout.trim()}${dirty.status === 0 && dirty.stdout.trim() !== '' ? '-dirty' : ''}`;
}

export function versionReport(): VersionReport {
  const root = packageRoot();
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string };
  const commit = gitCommit(root);
  return {
    hastack: pkg.version ?? 'unknown',
    ...(commit !== undefined ? { commit } : {}),
    node: process.versions.node,
    engines: checkEngines(enginePrograms()).map((c) => ({ binary: c.binary, package: c.package, found: c.found, ...(c.version !== undefined ? { version: c.version } : {}) })),
  };
}

/** `hastack --version` / `hastack version`. */
export function printVersion(o: OutputOptions): void {
  const r = versionReport();
  if (isJson(o)) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  const rows = [
    ['hastack', `${r.hastack}${r.commit !== undefined ? ` (${r.commit})` : ''}`],
    ['node', r.node],
    ...r.engines.map((e) => [e.binary, e.found ? (e.version ?? '(installed)') : 'not installed']),
  ];
  process.stdout.write(table(rows) + '\n');
}
