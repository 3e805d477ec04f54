import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, HastackError } from './errors.js';

/** The file-system questions module resolution asks (injected so tests need no files). */
export interface FsView {
  isFile(p: string): boolean;
  isDirectory(p: string): boolean;
  /** The path with symlinks resolved (absent, or the path itself when it does not exist). */
  realpath?(p: string): string;
}

export const realFs: FsView = {
  isFile: (p) => {
    try {
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  },
  isDirectory: (p) => {
    try {
      return fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  },
  realpath: (p) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p;
    }
  },
};

function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function notFound(given: string, why: string): HastackError {
  return new HastackError(ErrorCode.APP_INVALID, `app module ${given}: ${why}`, { details: { module: given } });
}

/**
 * The JavaScript file to import for the configured app module (`topo.appModule`, absolute).
 *
 * - a `.js`/`.mjs` file: itself;
 * - a directory: its `index.js` (or `index.mjs`);
 * - inside this package's source tree (not under `dist/`), a `.ts` file or a directory holding
 *   `index.ts`: the compiled copy at `<packageRoot>/dist/<same relative path>` with `.js`, so a
 *   config can name `examples/erp` and run what `tsc` built.
 */
export function resolveAppModulePath(given: string, packageRoot: string, fsv: FsView = realFs): string {
  // Symlinks resolved: on a deployed host the config names `<installDir>/current/...` while the
  // package runs from the release directory `current` points to.
  const p = fsv.realpath?.(path.resolve(given)) ?? path.resolve(given);
  const root = path.resolve(packageRoot);
  const dist = path.join(root, 'dist');
  const compiled = (rel: string): string => {
    const out = path.join(dist, rel);
    if (!fsv.isFile(out)) throw notFound(given, `its compiled copy ${out} does not exist; build first (npx tsc -p ${root})`);
    return out;
  };
  const inSource = isInside(p, root) && !isInside(p, dist);
  if (inSource) {
    if (/\.m?ts$/.test(p) && !p.endsWith('.d.ts')) {
      return compiled(
        path
          .relative(root, p)
          .replace(/\.ts$/, '.js')
          .replace(/\.mts$/, '.mjs'),
      );
    }
    if (fsv.isDirectory(p) && fsv.isFile(path.join(p, 'index.ts'))) {
      return compiled(path.join(path.relative(root, p), 'index.js'));
    }
    if (!fsv.isFile(p) && !fsv.isDirectory(p) && fsv.isFile(`${p}.ts`)) {
      return compiled(`${path.relative(root, p)}.js`);
    }
  } else if (/\.m?ts$/.test(p)) {
    throw notFound(given, 'is TypeScript outside the hastack package; compile it and point app.module at the .js file');
  }
  if (fsv.isFile(p)) {
    if (/\.(m?js|cjs)$/.test(p)) return p;
    throw notFound(given, 'is not a .js or .mjs file');
  }
  if (fsv.isDirectory(p)) {
    for (const index of ['index.js', 'index.mjs']) {
      const f = path.join(p, index);
      if (fsv.isFile(f)) return f;
    }
    throw notFound(given, 'is a directory without index.js or index.mjs');
  }
  throw notFound(given, 'does not exist (app.module in hastack.yaml is relative to that file)');
}

/** The nearest directory at or above `fromDir` that holds a package.json. */
export function findPackageRoot(fromDir: string, fsv: FsView = realFs): string {
  let dir = path.resolve(fromDir);
  for (;;) {
    if (fsv.isFile(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new HastackError(ErrorCode.INTERNAL, `no package.json above ${fromDir}`);
    dir = up;
  }
}

/** This package's root (the code runs from `<root>/dist/src/shared/`). */
export function packageRoot(): string {
  return findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));
}
