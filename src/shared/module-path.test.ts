import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, HastackError } from './errors.js';
import { findPackageRoot, resolveAppModulePath, type FsView } from './module-path.js';

/** A fake file system: paths ending in "/" are directories. */
function fakeFs(entries: string[]): FsView {
  const files = new Set(entries.filter((e) => !e.endsWith('/')));
  const dirs = new Set(entries.filter((e) => e.endsWith('/')).map((e) => e.slice(0, -1)));
  return { isFile: (p) => files.has(p), isDirectory: (p) => dirs.has(p) };
}

const ROOT = '/work/main';
const tree = fakeFs([
  '/work/main/package.json',
  '/work/main/examples/erp/',
  '/work/main/examples/erp/index.ts',
  '/work/main/examples/solo.ts',
  '/work/main/dist/',
  '/work/main/dist/examples/erp/',
  '/work/main/dist/examples/erp/index.js',
  '/work/main/dist/examples/solo.js',
  '/work/main/examples/plain/',
  '/work/main/examples/plain/index.js',
  '/srv/myapp/',
  '/srv/myapp/index.mjs',
  '/srv/other/main.js',
  '/srv/ts/app.ts',
  '/srv/empty/',
  '/work/main/examples/unbuilt/',
  '/work/main/examples/unbuilt/index.ts',
]);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof HastackError ? e.code : 'not a HastackError';
  }
  return undefined;
}

describe('resolveAppModulePath', () => {
  it('maps a source directory of this package to its compiled index.js', () => {
    assert.equal(resolveAppModulePath('/work/main/examples/erp', ROOT, tree), '/work/main/dist/examples/erp/index.js');
  });
  it('maps a .ts file and an extension-less source path to dist', () => {
    assert.equal(resolveAppModulePath('/work/main/examples/erp/index.ts', ROOT, tree), '/work/main/dist/examples/erp/index.js');
    assert.equal(resolveAppModulePath('/work/main/examples/solo', ROOT, tree), '/work/main/dist/examples/solo.js');
  });
  it('uses compiled paths as given', () => {
    assert.equal(resolveAppModulePath('/work/main/dist/examples/erp', ROOT, tree), '/work/main/dist/examples/erp/index.js');
    assert.equal(resolveAppModulePath('/work/main/dist/examples/solo.js', ROOT, tree), '/work/main/dist/examples/solo.js');
  });
  it('takes a plain JS directory inside the package as it is', () => {
    assert.equal(resolveAppModulePath('/work/main/examples/plain', ROOT, tree), '/work/main/examples/plain/index.js');
  });
  it('resolves modules outside the package: a file, or a directory index', () => {
    assert.equal(resolveAppModulePath('/srv/other/main.js', ROOT, tree), '/srv/other/main.js');
    assert.equal(resolveAppModulePath('/srv/myapp', ROOT, tree), '/srv/myapp/index.mjs');
  });
  it('refuses what cannot be run, with APP_INVALID', () => {
    assert.equal(
      code(() => resolveAppModulePath('/work/main/examples/unbuilt', ROOT, tree)),
      ErrorCode.APP_INVALID,
    );
    assert.equal(
      code(() => resolveAppModulePath('/srv/ts/app.ts', ROOT, tree)),
      ErrorCode.APP_INVALID,
    );
    assert.equal(
      code(() => resolveAppModulePath('/srv/empty', ROOT, tree)),
      ErrorCode.APP_INVALID,
    );
    assert.equal(
      code(() => resolveAppModulePath('/srv/missing', ROOT, tree)),
      ErrorCode.APP_INVALID,
    );
  });
  it('says to build when the compiled copy is missing', () => {
    assert.throws(() => resolveAppModulePath('/work/main/examples/unbuilt', ROOT, tree), /npx tsc -p \/work\/main/);
  });
});

describe('findPackageRoot', () => {
  it('walks up to the directory holding package.json', () => {
    assert.equal(findPackageRoot('/work/main/dist/src/app', tree), ROOT);
  });
});
