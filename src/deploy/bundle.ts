import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../shared/module-path.js';
import { ErrorCode, HastackError } from '../shared/errors.js';

const run = promisify(execFile);

/** The file under installDir that records which bundle is installed there. */
export const BUNDLE_STAMP_FILE = '.hastack-bundle';

/**
 * What `deploy` installs on every host: this package as it runs here (package.json, the lock,
 * the compiled `dist/` without tests and benchmarks, `examples/` for `app.module: examples/erp`)
 * and its production dependencies. Hosts need no npm registry: the deploying machine has the
 * modules already, and shipping them pins exactly the versions that were tested.
 */
export interface Bundle {
  /** A digest of everything in the bundle: equal stamps, nothing to reinstall. */
  readonly stamp: string;
  readonly tarball: string;
  readonly bytes: number;
}

/** Top-level entries of the package that go into the bundle (under `dist/`: only what runs). */
const PACKAGE_ENTRIES = ['package.json', 'package-lock.json', 'examples', 'dist/src', 'dist/examples', 'dist/dashboard'];

function walk(dir: string, into: string[]): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, into);
    else into.push(p);
  }
}

/** Digest of the entries' paths, sizes and modification times: cheap, and changes with any rebuild. */
function treeStamp(root: string): string {
  const h = createHash('sha256');
  for (const entry of PACKAGE_ENTRIES) {
    const p = path.join(root, entry);
    if (!fs.existsSync(p)) throw new HastackError(ErrorCode.SETUP_FAILED, `${p} is missing: build hastack first (npm ci && npm run build)`);
    const files: string[] = [];
    if (fs.statSync(p).isDirectory()) walk(p, files);
    else files.push(p);
    for (const f of files.sort()) {
      const st = fs.statSync(f);
      h.update(`${path.relative(root, f)}\0${st.size}\0${Math.floor(st.mtimeMs)}\n`);
    }
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * The production `node_modules` for this lock file, made once per lock (a copy of ours pruned of
 * dev dependencies; npm needs no network for a prune) and kept under `cacheDir`.
 */
async function productionModules(root: string, cacheDir: string, lockHash: string): Promise<string> {
  const dir = path.join(cacheDir, `modules-${lockHash}`);
  if (fs.existsSync(path.join(dir, '.complete'))) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(root, f), path.join(dir, f));
  await run('cp', ['-a', path.join(root, 'node_modules'), path.join(dir, 'node_modules')]);
  try {
    await run('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, timeout: 300_000 });
  } catch (e) {
    throw new HastackError(ErrorCode.SETUP_FAILED, `preparing the production node_modules in ${dir} failed (npm prune --omit=dev): ${(e as Error).message}`);
  }
  fs.writeFileSync(path.join(dir, '.complete'), `${new Date().toISOString()}\n`);
  return dir;
}

/** Builds (or reuses) the bundle for this checkout under `cacheDir`. */
export async function buildBundle(cacheDir: string): Promise<Bundle> {
  const root = packageRoot();
  if (!fs.existsSync(path.join(root, 'node_modules'))) throw new HastackError(ErrorCode.SETUP_FAILED, `${root}/node_modules is missing: run npm ci there first`);
  const lockHash = createHash('sha256')
    .update(fs.readFileSync(path.join(root, 'package-lock.json')))
    .digest('hex')
    .slice(0, 16);
  const stamp = `${lockHash}-${treeStamp(root)}`;
  const tarball = path.join(cacheDir, `hastack-${stamp}.tar.gz`);
  fs.mkdirSync(cacheDir, { recursive: true });
  if (!fs.existsSync(tarball)) {
    const modules = await productionModules(root, cacheDir, lockHash);
    const tmp = `${tarball}.tmp`;
    await run('tar', ['-czf', tmp, '-C', root, ...PACKAGE_ENTRIES, '-C', modules, 'node_modules'], { timeout: 300_000 });
    fs.renameSync(tmp, tarball);
    // Older bundles and module sets of this cache are of no further use: one deploy ships one bundle.
    for (const f of fs.readdirSync(cacheDir)) {
      const stale = (/^hastack-.*\.tar\.gz$/.test(f) && path.join(cacheDir, f) !== tarball) || (f.startsWith('modules-') && path.join(cacheDir, f) !== modules);
      if (stale) fs.rmSync(path.join(cacheDir, f), { recursive: true, force: true });
    }
  }
  return { stamp, tarball, bytes: fs.statSync(tarball).size };
}
