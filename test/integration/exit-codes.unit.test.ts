/**
 * Issue 25: the exit codes of the README's table (0 ok, 1 failure, 2 bad config or usage, 3
 * engines missing) for the cases the issue lists, and the `-o json` shapes of the read commands
 * that need no running cluster (errors too are JSON under -o json), and of the plans of commands
 * that change things (setup's, and the errors of the others without a cluster). The real binary, no engine.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig, preset, resolveTopology, writeTopology } from '../../src/config/index.js';
import { runCli, tempDir } from '../helpers/cli.js';

const dir = tempDir('op-exit');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const state = path.join(dir, 'state');

describe('exit codes (README: 0 ok, 1 failure, 2 bad config or usage, 3 engines missing)', () => {
  it('init over an existing file: 2, and it says --force', async () => {
    const file = path.join(dir, 'exists.yaml');
    fs.writeFileSync(file, '# mine\n');
    const r = await runCli(['init', '-f', file], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /already exists; pass --force/);
    assert.equal(fs.readFileSync(file, 'utf8'), '# mine\n');
  });

  it('-f naming a missing file: 2 (status, up)', async () => {
    for (const cmd of ['status', 'up']) {
      const r = await runCli([cmd, '-f', path.join(dir, 'missing.yaml'), '--state-root', state], { cwd: dir });
      assert.equal(r.code, 2, `${cmd}: ${r.stderr}`);
      assert.match(r.stderr, /cannot read .*missing\.yaml; run "hastack init -f/);
    }
  });

  it('jobs retry with no ids: 2, naming what to pass', async () => {
    const r = await runCli(['jobs', 'retry', '--preset', 'simple', '--state-root', state], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /name the jobs to retry .* or pass --all/);
  });

  it('deploy of a local cluster and up of a hosts cluster: 2, each naming the other command', async () => {
    const deploy = await runCli(['deploy', '--dry-run', '--preset', 'simple', '--state-root', state], { cwd: dir });
    assert.equal(deploy.code, 2, deploy.stderr);
    assert.match(deploy.stderr, /needs "substrate: hosts" .* use "hastack up"/);
    const file = path.join(dir, 'hosts.yaml');
    fs.writeFileSync(
      file,
      'cluster: ophosts\nsubstrate: hosts\napp: {command: "true"}\nnodes:\n  - name: a\n    address: 10.213.238.1\n    ssh: root@10.213.238.1\n    services: [lb, app, mariadb, redis]\n',
    );
    const up = await runCli(['up', '-f', file, '--state-root', state], { cwd: dir });
    assert.equal(up.code, 2, up.stderr);
    assert.match(up.stderr, /"substrate: hosts"\): run "hastack deploy"/);
  });

  it('usage errors: 2 (an unknown command, a missing argument, a bad -o)', async () => {
    for (const args of [['frobnicate'], ['env'], ['status', '-o', 'yaml']]) {
      const r = await runCli(args, { cwd: dir });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  it('a cluster that never ran: status exits 1; under -o json the error is one JSON object on stdout', async () => {
    const r = await runCli(['status', '--preset', 'simple', '--state-root', state, '-o', 'json'], { cwd: dir });
    assert.equal(r.code, 1);
    const body = JSON.parse(r.stdout) as { error: { code: string; exitCode: number; message: string } };
    assert.equal(body.error.code, 'CLUSTER_NOT_RUNNING');
    assert.equal(body.error.exitCode, 1);
    assert.match(body.error.message, /hastack up/);
  });

  it('-o json of the commands that change things: one document, or the error as one object', async () => {
    const json = (stdout: string): Record<string, unknown> => JSON.parse(stdout) as Record<string, unknown>;
    const errorOf = (stdout: string): { code: string; exitCode: number; message: string } => (json(stdout) as { error: { code: string; exitCode: number; message: string } }).error;
    // setup --dry-run: the plan document (what is installed decides planned or nothing-to-do).
    const setup = await runCli(['setup', '--dry-run', '--preset', 'simple', '--state-root', state, '-o', 'json'], { cwd: dir });
    assert.equal(setup.code, 0, setup.stderr);
    const plan = json(setup.stdout) as { command: string; dryRun: boolean; decision: string; steps: unknown[]; facts: { scope: string; checks: Array<{ binary: string }> } };
    assert.equal(plan.command, 'setup');
    assert.equal(plan.dryRun, true);
    assert.ok(['planned', 'nothing-to-do'].includes(plan.decision), plan.decision);
    assert.ok(Array.isArray(plan.steps));
    assert.ok(plan.facts.checks.some((c) => c.binary === 'redis-server'));
    // A real failover under -o json cannot ask: 2 without --yes, before anything is looked at.
    const noYes = await runCli(['failover', '--preset', 'simple', '--state-root', state, '-o', 'json'], { cwd: dir });
    assert.equal(noYes.code, 2, noYes.stderr);
    assert.equal(errorOf(noYes.stdout).code, 'USAGE');
    // Plans of a cluster that never ran, and deploy of a local one: the error as JSON, its exit code.
    for (const [args, code, exitCode] of [
      [['failover', '--dry-run', '--json'], 'CLUSTER_NOT_RUNNING', 1],
      [['pause', '--dry-run', '-o', 'json'], 'CLUSTER_NOT_RUNNING', 1],
      [['backup', '--dry-run', '-o', 'json'], 'CLUSTER_NOT_RUNNING', 1],
      [['deploy', '--dry-run', '-o', 'json'], 'CONFIG_INVALID', 2],
      [['jobs', 'retry', '-o', 'json'], 'USAGE', 2],
    ] as const) {
      const r = await runCli([...args, '--preset', 'simple', '--state-root', state], { cwd: dir });
      assert.equal(r.code, exitCode, `${args.join(' ')}: ${r.stderr}`);
      const e = errorOf(r.stdout);
      assert.equal(e.code, code, args.join(' '));
      assert.equal(e.exitCode, exitCode);
    }
    // backup list takes its own -o json and --state-root (commander hands them to the parent backup).
    const list = await runCli(['backup', 'list', '-o', 'json', '--preset', 'simple', '--state-root', state], { cwd: dir });
    assert.equal(list.code, 1);
    assert.ok(errorOf(list.stdout).message.includes(state), list.stdout);
  });

  it('status --preset simple of a recorded ideal cluster (both named "hastack"): 2, saying which it is', async () => {
    const root = path.join(dir, 'recorded');
    const topo = resolveTopology(parseConfig({ ...preset('ideal'), addressBase: '127.0.238' }), { stateRoot: root, configDir: dir });
    fs.mkdirSync(topo.stateDir, { recursive: true });
    writeTopology(topo);
    const r = await runCli(['status', '--preset', 'simple', '--state-root', root], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /the cluster "hastack" on record in .* was started from preset ideal, not preset simple/);
    // The recorded cluster is not running: status and jobs failed say so at once, with the start command.
    const st = await runCli(['status', '--preset', 'ideal', '--state-root', root], { cwd: dir });
    assert.equal(st.code, 1);
    assert.equal(st.stdout, 'cluster hastack: stopped (no supervisor runs it); start it with: hastack up --preset ideal --detach\n');
    const jobs = await runCli(['jobs', 'failed', '--preset', 'ideal', '--state-root', root], { cwd: dir });
    assert.equal(jobs.code, 1);
    assert.equal(jobs.stderr, 'hastack: cluster hastack is stopped (no supervisor runs it); start it with: hastack up --preset ideal --detach\n');
  });

  it('stop, start, restart, drain, db shell, redis-cli, pause, resume: 2 for usage, 1 for a stopped cluster', async () => {
    const root = path.join(dir, 'recorded-simple');
    const topo = resolveTopology(parseConfig({ ...preset('simple'), addressBase: '127.0.238' }), { stateRoot: root, configDir: dir });
    fs.mkdirSync(topo.stateDir, { recursive: true });
    writeTopology(topo);
    const run = (args: string[]) => runCli([...args, '--preset', 'simple', '--state-root', root], { cwd: dir });
    const stopped = /cluster hastack is stopped \(no supervisor runs it\); start it with: hastack up --preset simple --detach/;
    const cases: Array<[string[], number, RegExp]> = [
      [['stop'], 2, /missing required argument 'target'/],
      [['drain'], 2, /missing required argument 'node'/],
      [['start', 'nosuch'], 2, /no node "nosuch" in cluster hastack; there are: primary, standby, witness/],
      [['restart', 'primary/nosuch'], 2, /no service "nosuch" on node primary; there are: /],
      [['db', 'shell', 'witness'], 2, /no mariadb service on node "witness" in cluster hastack; nodes with one: primary, standby/],
      [['redis-cli', 'nosuch'], 2, /no redis service on node "nosuch"/],
      [['pause'], 2, /failover\.auto is off in cluster hastack/],
      [['resume'], 2, /failover\.auto is off in cluster hastack/],
      [['stop', 'primary/app'], 1, stopped],
      [['start', 'standby'], 1, stopped],
      [['restart', 'primary/app'], 1, stopped],
      [['drain', 'primary'], 1, stopped],
      [['db', 'shell'], 1, stopped],
      [['redis-cli'], 1, stopped],
    ];
    for (const [args, code, message] of cases) {
      const r = await run(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    // A dry run needs no running cluster: exit 0, the plan; under -o json one object.
    const plan = await run(['stop', 'primary/app', '--dry-run', '-o', 'json']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.deepEqual(JSON.parse(plan.stdout), {
      action: 'stop',
      services: ['primary/app'],
      dryRun: true,
      steps: ['stop primary/app (SIGTERM, then SIGKILL after its grace); the supervisor leaves it stopped until "start"'],
    });
    const err = await run(['drain', 'primary', '-o', 'json']);
    assert.equal(err.code, 1);
    assert.equal((JSON.parse(err.stdout) as { error: { code: string } }).error.code, 'CLUSTER_NOT_RUNNING');
    // history and events of a cluster with no event yet: 0 and empty lists.
    assert.deepEqual(JSON.parse((await run(['history', '-o', 'json'])).stdout), { events: [] });
    assert.deepEqual(JSON.parse((await run(['events', '-o', 'json'])).stdout), []);
  });

  it('completion bash: a script from the command tree; an unknown shell is 2', async () => {
    const r = await runCli(['completion', 'bash'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\n {4}"config validate"\|"config validate "\*\) words="-f --file --preset --state-root -o --output -h --help" ;;\n/);
    assert.match(r.stdout, /\ncomplete -o default -F _hastack_complete hastack\n/);
    assert.equal((await runCli(['completion', 'fish'], { cwd: dir })).code, 2);
  });

  it('--version and version -o json: 0, hastack, Node and every engine of the registry', async () => {
    const text = await runCli(['--version'], { cwd: dir });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^hastack\s+\d+\.\d+\.\d+/);
    assert.match(text.stdout, /\nnode\s+\d+\.\d+\.\d+/);
    assert.match(text.stdout, /\nmariadbd\s+/);
    const json = await runCli(['version', '-o', 'json'], { cwd: dir });
    assert.equal(json.code, 0);
    const v = JSON.parse(json.stdout) as { hastack: string; node: string; engines: Array<{ binary: string; found: boolean }> };
    assert.equal(v.node, process.versions.node);
    assert.ok(v.engines.some((e) => e.binary === 'redis-server'));
  });

  it('config show -o json: the config with defaults and where each service lives', async () => {
    const r = await runCli(['config', 'show', '--preset', 'simple', '--state-root', state, '-o', 'json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout) as {
      config: { database: { semiSync: boolean } };
      placement: Array<{ node: string; address: string; services: Array<{ service: string; port: number }> }>;
    };
    assert.equal(body.config.database.semiSync, true);
    assert.equal(body.placement.length, 3); // primary, standby and the witness (etcd, sentinel)
    assert.ok(body.placement[0]?.services.some((s) => s.service === 'lb' && s.port === 8080));
  });

  it('explain: 0 with the documentation and default; an unknown key 2 with a suggestion', async () => {
    const ok = await runCli(['explain', 'database.semiSync', '-o', 'json'], { cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), {
      key: 'database.semiSync',
      type: 'boolean',
      doc: 'Semi-sync AFTER_SYNC: a commit is acknowledged only once a replica has it.',
      default: true,
      required: false,
    });
    const bad = await runCli(['explain', 'lb.polcy'], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /no key "lb\.polcy" in hastack\.yaml; did you mean "lb\.policy"\?/);
  });
});
