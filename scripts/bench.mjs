// `npm run bench -- NAME [args]`: runs the compiled benchmark dist/bench/NAME.js (after the build
// that `npm run bench` does first) with the remaining arguments, and exits with its status.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [name, ...rest] = process.argv.slice(2);
const list = () =>
  fs.existsSync('dist/bench')
    ? fs
        .readdirSync('dist/bench')
        .filter((f) => f.endsWith('.js'))
        .map((f) => f.slice(0, -3))
    : [];
if (name === undefined || !/^[a-z0-9-]+$/.test(name)) {
  console.error(`usage: npm run bench -- NAME [args]; benchmarks: ${list().join(', ') || '(none built)'}`);
  process.exit(2);
}
const file = path.join('dist', 'bench', `${name}.js`);
if (!fs.existsSync(file)) {
  console.error(`no benchmark "${name}" (${file} does not exist); benchmarks: ${list().join(', ') || '(none built)'}`);
  process.exit(2);
}
const res = spawnSync(process.execPath, [file, ...rest], { stdio: 'inherit' });
process.exit(res.status ?? 1);
