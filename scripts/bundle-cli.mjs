// Bundles the compiled CLI (dist/src/cli/main.js) with its npm dependencies into dist/cli/, so
// that a process starts in about half the CPU: every CLI call, the supervisor, and our own tiers
// that do not load the user's app (lb, dns, the local endpoints). Node 20's ESM loader resolves,
// reads and links each of the ~1,000 module files of the unbundled tree one by one (the
// dependencies are CommonJS, loaded through the ESM translator); `hastack status -f missing.yaml`
// took 0.77 core-s unbundled, 0.46 bundled. Part of `npm run build`, after tsc.
//
// What stays unbundled (dist/src/cli/main.js, src/drivers/our-drivers.ts CLI_MAIN): the app and
// worker tiers and `_migrate`, because the user's app imports the SDK (`hastack/app`, i.e.
// dist/src/app/index.js): one copy of it per process, not the bundle's and the app's; and the
// hosts' units, which run the installed package's dist/src.
//
// Layout: flat (entries and chunks side by side), so the relative worker-thread URLs of
// src/failover (`./election-worker.js`) resolve here as they do in dist/src/failover/. Paths to
// the package's files are found from the package root (src/shared/module-path.ts), not from
// import.meta.url. Splitting keeps each command's module loaded only when that command runs
// (main.ts imports them lazily).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist/cli');
fs.rmSync(out, { recursive: true, force: true });

const t0 = Date.now();
await build({
  entryPoints: ['dist/src/cli/main.js', 'dist/src/failover/election-worker.js', 'dist/src/failover/guard-worker.js'].map((p) => path.join(root, p)),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: out,
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  // The dependencies are CommonJS: their `require('node:...')` needs a require in an ES module.
  banner: { js: "import { createRequire as __hastackCreateRequire } from 'node:module'; const require = __hastackCreateRequire(import.meta.url);" },
  // Readable stack traces: each module keeps its names, and a `// dist/src/...` comment heads it.
  minify: false,
  logLevel: 'warning',
});
const files = fs.readdirSync(out);
// A worker thread started as `new Worker(new URL('./x.js', import.meta.url))` needs x.js among
// the entry points above: fail the build here rather than the thread at run time.
for (const f of files) {
  for (const [, target] of fs.readFileSync(path.join(out, f), 'utf8').matchAll(/new URL\("\.\/([^"/]+)", import\.meta\.url\)/g)) {
    if (!files.includes(target)) throw new Error(`cli bundle: ${f} loads ./${target}, which is not an entry point of scripts/bundle-cli.mjs: add it`);
  }
}
const bytes = files.reduce((n, f) => n + fs.statSync(path.join(out, f)).size, 0);
console.log(`cli bundle: ${path.relative(root, out)}/ (${files.length} files, ${(bytes / 1e6).toFixed(1)} MB, ${Date.now() - t0} ms)`);
