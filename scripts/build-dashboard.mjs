// Bundles the status dashboard (dashboard/) into dist/dashboard/public, where the supervisor's
// admin server serves it from (src/control/dashboard/http.ts). Part of `npm run build`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist/dashboard/public');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

await build({
  entryPoints: [path.join(root, 'dashboard/src/main.ts')],
  bundle: true,
  format: 'esm',
  // Browsers of the last few years: EventSource, ResizeObserver and ES2020 are everywhere.
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  outfile: path.join(out, 'app.js'),
  logLevel: 'warning',
});
for (const [from, to] of [
  ['dashboard/index.html', 'index.html'],
  ['dashboard/style.css', 'style.css'],
  ['node_modules/uplot/dist/uPlot.min.css', 'uPlot.min.css'],
]) {
  fs.copyFileSync(path.join(root, from), path.join(out, to));
}
console.log(`dashboard: ${path.relative(root, out)}/ (${fs.readdirSync(out).join(', ')})`);
