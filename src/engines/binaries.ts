import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { enginePrograms, type EngineBinary } from '../registry/index.js';

export interface EngineCheck {
  readonly binary: string;
  readonly package: string;
  readonly purpose: string;
  readonly required: boolean;
  readonly found: boolean;
  readonly path?: string;
  readonly version?: string;
}

/** The dotted version number in a program's version banner (first one found). Pure. */
export function parseVersion(text: string): string | undefined {
  // "Redis server v=7.0.15 ...", "memcached 1.6.18", "mariadbd  Ver 10.11.19-MariaDB...",
  // "mariabackup based on MariaDB server 10.11.19-MariaDB", "rsync  version 3.2.7".
  // mariadb's client banner says "Ver 15.1 Distrib 10.11.19": the Distrib number is the one that matters.
  const distrib = /Distrib\s+(\d+\.\d+(?:\.\d+)?)/.exec(text);
  if (distrib?.[1]) return distrib[1];
  const m = /(?:^|[^\d.])(\d+\.\d+(?:\.\d+)?)/.exec(text);
  return m?.[1];
}

const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function findBinary(b: EngineBinary): string | undefined {
  if (b.paths) return b.paths.find((p) => fs.existsSync(p));
  // Daemons live in /usr/sbin, which a non-root PATH often lacks.
  // HASTACK_ENGINE_SEARCH_PATH replaces the search (tests use it to play a machine without engines).
  const override = process.env.HASTACK_ENGINE_SEARCH_PATH;
  const dirs =
    override !== undefined ? override.split(path.delimiter).filter((d) => d !== '') : [...(process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''), ...SEARCH_DIRS];
  for (const d of dirs) {
    const p = path.join(d, b.binary);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

// A version banner prints in milliseconds; 5 s only stops a wedged program from hanging `doctor`.
const VERSION_TIMEOUT_MS = 5000;

function readVersion(b: EngineBinary, file: string): string | undefined {
  const r = b.versionArgs
    ? spawnSync(file, [...b.versionArgs], { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS })
    : spawnSync('dpkg-query', ['-W', '-f=${Version}', b.package], { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS });
  if (r.error) return undefined;
  // mariabackup prints its banner on stderr.
  return parseVersion(`${r.stdout ?? ''}\n${r.stderr ?? ''}`);
}

/**
 * Looks for each program (every engine of the registry by default) and reads its version (for
 * `hastack doctor`). What to look for is the registry's (src/registry/needs.ts); this only looks.
 */
export function checkEngines(list: readonly EngineBinary[] = enginePrograms()): EngineCheck[] {
  return list.map((b) => {
    const found = findBinary(b);
    const base = { binary: b.binary, package: b.package, purpose: b.purpose, required: b.required };
    if (!found) return { ...base, found: false };
    const version = readVersion(b, found);
    return { ...base, found: true, path: found, ...(version ? { version } : {}) };
  });
}
