/**
 * Issue 25: a table of broken configs through `hastack config validate` (every problem, with file,
 * line and column) and the same file through `hastack up`, which fails the same way before any
 * engine starts. Unit lane: the real binary, no engine (up would need them only after the check).
 * Cluster names start with `op` and addresses are in 127.0.238 (kit/addresses.ts `reserved-op`).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validateConfigText, type ConfigCheck, type ConfigProblem } from '../../src/config/index.js';
import { REPO_ROOT, runCli, tempDir } from '../helpers/cli.js';

const dir = tempDir('op-validate');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
/** The checks up and deploy add (src/cli has no index: a dynamic import may name its file). */
let START_CHECKS: readonly ConfigCheck[] = [];
before(async () => {
  START_CHECKS = (await import('../../src/cli/config-checks.js')).START_CHECKS;
  // `examples/erp` (the default app) resolves beside the files, as in the checkout.
  fs.symlinkSync(path.join(REPO_ROOT, 'examples'), path.join(dir, 'examples'));
});

const head = 'cluster: opvalid\naddressBase: 127.0.238\n';
const node = (name: string, services: string): string => `  - name: ${name}\n    services: [${services}]\n`;
const ok = `nodes:\n${node('a', 'lb, app, mariadb, redis')}`;

/** [line, column, key, message] of each expected problem, in order. */
type Expected = Array<[number, number, string, string]>;
const CASES: Array<{ name: string; yaml: string; problems: Expected }> = [
  {
    name: 'service: instead of services:',
    yaml: `${head}nodes:\n  - name: a\n    service: [lb, app, mariadb, redis]\n`,
    problems: [[5, 5, 'nodes[0].service', 'unknown key "service"; did you mean "services"?']],
  },
  {
    name: 'databse:',
    yaml: `${head}${ok}databse:\n  mode: replication\n`,
    problems: [[6, 1, 'databse', 'unknown key "databse"; did you mean "database"?']],
  },
  {
    name: 'database: {semiSync: yes}',
    yaml: `${head}${ok}database: {semiSync: yes}\n`,
    problems: [[6, 22, 'database.semiSync', 'must be true or false, got "yes" (YAML 1.2 reads yes, no, on and off as text: write true or false)']],
  },
  {
    name: 'an empty file',
    yaml: '',
    problems: [[1, 1, '(top level)', 'the file is empty; a cluster needs "nodes" at least (hastack init writes a complete one)']],
  },
  {
    name: 'address: 127.0.10.300',
    yaml: `${head}nodes:\n  - name: a\n    address: 127.0.10.300\n    services: [lb, app, mariadb, redis]\n`,
    problems: [[5, 14, 'nodes[0].address', '127.0.10.300 is not an IPv4 address: 300 is above 255']],
  },
  {
    name: 'two app servers on one address and port (one given, one by its place)',
    yaml: `${head}nodes:\n${node('a', 'lb, mariadb, redis')}${node('b', 'app')}  - name: c\n    address: 127.0.238.2\n    services: [app]\n`,
    problems: [[9, 14, 'nodes[2].address', '127.0.238.2 is already the address nodes[1] gets by its place in the list (addressBase.2); give nodes[2] another one']],
  },
  {
    name: 'ports: {app: 8080} beside a load balancer on 8080',
    yaml: `${head}ports: {app: 8080}\n${ok}`,
    problems: [[3, 14, 'ports.app', '8080 on node "a" (127.0.238.1) is also the port of its lb (ports.lb, by default); two services on one address need two ports']],
  },
  {
    name: 'backup.schedule: "99 99 * * *"',
    yaml: `${head}${ok}backup:\n  schedule: "99 99 * * *"\n`,
    problems: [[7, 13, 'backup.schedule', 'cron minute field "99" is outside 0-59']],
  },
  {
    name: 'a missing app.module',
    yaml: `${head}app:\n  module: ./missing.js\n${ok}`,
    problems: [
      [
        4,
        11,
        'app.module',
        `./missing.js (${path.join(dir, 'missing.js')}) does not exist (app.module in hastack.yaml is relative to that file); or set app.command to run any HTTP server`,
      ],
    ],
  },
  {
    name: 'several problems at once, in file order, each with its suggestion',
    yaml: `${head}nodes:\n  - name: a\n    services: [lb, app, mariadb, redsi]\ndatabase: {mode: galera, semiSync: 1}\nlb:\n  policy: round-robbin\n`,
    problems: [
      [5, 34, 'nodes[0].services[3]', '"redsi" is not one of mariadb, redis, sentinel, memcached, app, worker, lb, dns, etcd; did you mean "redis"?'],
      [6, 36, 'database.semiSync', 'must be true or false, got 1'],
      [8, 11, 'lb.policy', '"round-robbin" is not one of round-robin, least-connections, p2c; did you mean "round-robin"?'],
    ],
  },
];

/**
 * The cases run through the binary too (each spawn costs ~0.5 s of CPU): the empty file, the two
 * checks of the layers above config (cron, app module), and the one with several problems.
 */
const THROUGH_CLI = CASES.filter((c) => /empty|backup|app\.module|several/.test(c.name));

const asTuples = (ps: readonly ConfigProblem[]): Expected => ps.map((p) => [p.line ?? 0, p.column ?? 0, p.key, p.message]);

describe('config validate: every broken config of the table', () => {
  for (const c of CASES) {
    it(`${c.name}: validateConfigText`, () => {
      const v = validateConfigText(c.yaml, { file: 'x.yaml', configDir: dir, checks: START_CHECKS });
      assert.deepEqual(asTuples(v.problems), c.problems);
      for (const p of v.problems) assert.equal(p.file, 'x.yaml');
    });
  }

  it('the command: each case exits 2 with FILE:LINE:COL: KEY: MESSAGE lines; -o json gives the same problems', async () => {
    for (const [i, c] of THROUGH_CLI.entries()) {
      const file = path.join(dir, `case${i}.yaml`);
      fs.writeFileSync(file, c.yaml);
      const text = await runCli(['config', 'validate', '-f', file], { cwd: dir });
      assert.equal(text.code, 2, `${c.name}: ${text.stdout}${text.stderr}`);
      const lines = c.problems.map(([l, col, key, msg]) => `${file}:${l}:${col}: ${key}: ${msg}`);
      assert.equal(text.stdout, `${lines.join('\n')}\n${c.problems.length} problem${c.problems.length === 1 ? '' : 's'} in ${file}\n`, c.name);
    }
    const several = THROUGH_CLI.length - 1;
    const json = await runCli(['config', 'validate', '-f', path.join(dir, `case${several}.yaml`), '-o', 'json'], { cwd: dir });
    assert.equal(json.code, 2);
    const body = JSON.parse(json.stdout) as { valid: boolean; problems: ConfigProblem[] };
    assert.equal(body.valid, false);
    assert.deepEqual(asTuples(body.problems), THROUGH_CLI[several]?.problems);
  });

  it('the same files through up: exit 2, the same lines, before any engine starts (no state written)', async () => {
    for (const [i, c] of THROUGH_CLI.entries()) {
      const file = path.join(dir, `case${i}.yaml`);
      const stateRoot = path.join(dir, `state${i}`);
      // No engine is findable: had the check passed, up would stop at the engine check (exit 3).
      const env = { HASTACK_ENGINE_SEARCH_PATH: path.join(dir, 'no-engines-here') };
      const res = await runCli(['up', '--no-install', '-f', file, '--state-root', stateRoot], { cwd: dir, env });
      assert.equal(res.code, 2, `${c.name}: ${res.stdout}${res.stderr}`);
      assert.equal(res.stderr, c.problems.map(([l, col, key, msg]) => `hastack: bad config: ${file}:${l}:${col}: ${key}: ${msg}\n`).join(''), c.name);
      assert.equal(fs.existsSync(stateRoot), false, `${c.name}: up wrote state before failing`);
    }
  });

  it('a valid file exits 0 and says what it holds; a missing -f file and a missing default file exit 2', async () => {
    const file = path.join(dir, 'good.yaml');
    fs.writeFileSync(file, `${head}${ok}`);
    const good = await runCli(['config', 'validate', '-f', file], { cwd: dir });
    assert.equal(good.code, 0, good.stdout);
    assert.equal(good.stdout, `${file}: valid (cluster "opvalid", substrate local, 1 nodes, 4 services)\n`);
    // -c names the file on every command too (logs and events, where -f follows, have only -c).
    const viaC = await runCli(['config', 'validate', '-c', file], { cwd: dir });
    assert.equal(viaC.stdout, good.stdout);
    const missing = await runCli(['config', 'validate', '-f', path.join(dir, 'nope.yaml')], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nope\.yaml/);
    const none = await runCli(['config', 'validate'], { cwd: dir });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no hastack\.yaml here/);
  });
});
