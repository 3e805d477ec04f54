/**
 * The dependency rules of `npm run lint` (.dependency-cruiser.cjs) fail on what they forbid and name
 * the rule. Runs the same `lint:deps` script on a copy of the lint inputs (package.json, tsconfig,
 * the rules and the source folders) in a temp dir, with a few wrong files added. Only
 * dependency-cruiser runs: no engine, no network.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/src/shared/ when compiled.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const INPUTS = ['package.json', 'tsconfig.json', '.dependency-cruiser.cjs', 'src', 'test', 'bench', 'kit', 'examples', 'dashboard/src'];

interface Known {
  from: string;
  to: string;
  rule: { name: string };
}
interface Cruise {
  summary: { violations: { from: string; to: string; rule: { name: string; severity: string } }[] };
}

function lintDepsArgs(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = pkg.scripts['lint:deps'] ?? '';
  assert.ok(script.startsWith('depcruise '), 'package.json has a lint:deps script running depcruise');
  return script.split(/\s+/).slice(1);
}

function depcruise(dir: string, args: string[]): { status: number | null; out: string } {
  const bin = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
  // Bounded: a cruise of this tree takes a few seconds even on a loaded 2-core machine.
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('dependency rules of npm run lint', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-layering-'));
    for (const p of INPUTS) {
      fs.cpSync(path.join(ROOT, p), path.join(dir, p), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the tree as it is breaks no layer and no pending entry is stale', () => {
    const args = lintDepsArgs().map((a) => (a === 'err-long' ? 'json' : a));
    const r = depcruise(dir, args);
    const cruise = JSON.parse(r.out.slice(r.out.indexOf('{'))) as Cruise;
    const errors = cruise.summary.violations.filter((v) => v.rule.severity === 'error' && v.rule.name !== 'enter-through-index');
    assert.deepEqual(
      errors.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
      [],
    );
    const config = createRequire(import.meta.url)(path.join(dir, '.dependency-cruiser.cjs')) as { options: { knownViolations: Known[] } };
    const ignored = new Set(cruise.summary.violations.filter((v) => v.rule.severity === 'ignore').map((v) => `${v.rule.name} ${v.from} ${v.to}`));
    const stale = config.options.knownViolations.map((k) => `${k.rule.name} ${k.from} ${k.to}`).filter((k) => !ignored.has(k));
    assert.deepEqual(stale, [], 'these PENDING entries of .dependency-cruiser.cjs match nothing any more: delete them');
  });

  it('an upward import, a way around an index, test code in bench, server code in the dashboard and two tiers importing each other fail, each naming its rule', () => {
    const write = (rel: string, text: string): void => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    };
    // No cycle, only the wrong direction: shared is the bottom layer, cli the top.
    write('src/shared/x.ts', "import { invokedAs } from '../cli/output.js';\nexport const who = invokedAs;\n");
    write('src/lb/x.ts', "import { parseConfig } from '../config/load.js';\nexport const parse = parseConfig;\n");
    write('bench/x.ts', "import { CLI } from '../test/helpers/cli.js';\nexport const cli = CLI;\n");
    write('dashboard/src/x.ts', "import { ErrorCode } from '../../src/shared/errors.js';\nexport const code = ErrorCode.INTERNAL;\n");
    // Peers of one layer (the tiers) that import each other: worker already imports app.
    write('src/app/y.ts', "import { startWorker } from '../worker/index.js';\nexport const w = startWorker;\n");
    // Allowed: a lazy import may name one file of a lower layer (the CLI loads only what it runs).
    write('src/cli/x.ts', "export const keeper = async (): Promise<unknown> => (await import('../hosts/keeper.js')).runKeeper;\n");

    const r = depcruise(dir, lintDepsArgs());
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /error layer-order: src\/shared\/x\.ts → src\/cli\/output\.ts/);
    assert.match(r.out, /error enter-through-index: src\/lb\/x\.ts → src\/config\/load\.ts/);
    assert.match(r.out, /error not-to-test: bench\/x\.ts → test\/helpers\/cli\.ts/);
    assert.match(r.out, /error dashboard-types-only: dashboard\/src\/x\.ts → src\/shared\/errors\.ts/);
    assert.match(r.out, /error no-folder-cycle: src\/app → \s*src\/worker →\s*src\/app/);
    assert.doesNotMatch(r.out, /src\/cli\/x\.ts/);
  });
});
