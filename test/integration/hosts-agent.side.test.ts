/**
 * The host-side agent of `hastack deploy` (`_agent`, `_keep`), run as a subprocess on this
 * machine in keeper mode (no systemd here), without ssh: plan/apply converge the files, the keeper
 * starts the units and restarts a SIGKILLed engine, node-down leaves nothing running and nothing
 * restarting it, node-up brings the node back healthy, stop leaves no process behind.
 *
 * Namespace: addresses 127.0.75.1 (the node under test) and 127.0.75.2 (a node whose services are
 * never started: the config needs app and lb somewhere), state in a fresh temp directory.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig, renderConfigYaml, resolveTopology, type ConfigInput } from '../../src/config/index.js';
import { agentPlanSchema, agentStatusSchema, nodeUpResultSchema, probeResultSchema, type AgentStatus, type DeployBundle } from '../../src/hosts/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { REPO_ROOT, pidAlive, runCli, tempDir, type CliResult } from '../helpers/cli.js';

const dir = tempDir('agent');
const NODE = 'n1';
const input: ConfigInput = {
  cluster: 'agenttest',
  substrate: 'hosts',
  hosts: { installDir: REPO_ROOT, stateDir: dir, controller: 'n2', serviceManager: 'hastack' },
  nodes: [
    { name: NODE, address: '127.0.75.1', ssh: 'root@127.0.75.1', services: ['mariadb', 'redis', 'memcached'] },
    { name: 'n2', address: '127.0.75.2', ssh: 'root@127.0.75.2', services: ['app', 'lb'] },
  ],
  // This test drives the agent with a hand-made bundle: no per-cluster CA in it, so no database
  // TLS (deploy makes and ships those files; hosts-deploy covers that path).
  database: { tls: 'off' },
  // Short restart delays: the test waits for a restart after a SIGKILL.
  supervisor: { restartBackoffMinMs: 100, restartBackoffMaxMs: 1000, healthTimeoutMs: 60_000 },
};
const config = parseConfig(input);
const topo = resolveTopology(config, { stateRoot: dir, configDir: REPO_ROOT });
const state = topo.stateDir;
const secret = (): string => crypto.randomBytes(18).toString('base64url');
const bundle: DeployBundle = {
  topology: topo,
  secrets: { redisPassword: secret(), sentinelPassword: secret(), dbRootPassword: secret(), dbAppPassword: secret(), dbReplPassword: secret(), sessionKey: secret() },
  configYaml: renderConfigYaml(input),
};
const UNITS = ['hastack-agenttest-n1-mariadb', 'hastack-agenttest-n1-redis', 'hastack-agenttest-n1-memcached'];
const IDS = ['n1/mariadb', 'n1/redis', 'n1/memcached'];
/** Every pid the test saw (keepers and engines): none may be alive at the end. */
const seen = new Set<number>();

function agent(args: string[], stdin?: string, timeoutMs = 120_000): Promise<CliResult> {
  return runCli(['_agent', ...args, '--state', state], { timeoutMs, input: stdin ?? '' });
}

async function json<T>(args: string[], schema: { parse(v: unknown): T }, stdin?: string): Promise<T> {
  const r = await agent(args, stdin);
  assert.equal(r.code, 0, `_agent ${args.join(' ')}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON object on stdout: ${r.stdout}`);
  return schema.parse(JSON.parse(lines[0] ?? ''));
}

async function status(): Promise<AgentStatus> {
  const s = await json(['status', '--node', NODE], agentStatusSchema);
  for (const u of s.units) if (u.pid !== undefined) seen.add(u.pid);
  for (const name of UNITS) {
    try {
      const st = JSON.parse(fs.readFileSync(path.join(state, 'units', `${name}.state.json`), 'utf8')) as { keeperPid: number };
      seen.add(st.keeperPid);
    } catch {
      // not started yet
    }
  }
  return s;
}

async function healthy(id: string): Promise<boolean> {
  const p = await json(['probe', '--id', id], probeResultSchema);
  return p.healthy;
}

async function waitHealthy(id: string): Promise<void> {
  // 60 s: a fresh MariaDB datadir takes a few seconds to create; the probe answers in ms once up.
  const ok = await waitFor(async () => ((await healthy(id)) ? true : undefined), { timeoutMs: 60_000, intervalMs: 300 });
  assert.ok(ok, `${id} healthy (log: ${fs.existsSync(path.join(state, id, 'service.log')) ? fs.readFileSync(path.join(state, id, 'service.log'), 'utf8').slice(-2000) : 'none'})`);
}

after(async () => {
  // Whatever happened above: nothing of ours may survive the test.
  if (fs.existsSync(path.join(state, 'topology.json'))) await agent(['node-down', '--node', NODE]).catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('hastack _agent in keeper mode (memcached, redis, mariadb on 127.0.75.1)', { timeout: 240_000 }, () => {
  it('plan before anything was installed: every file new, nothing active, keeper mode said', async () => {
    const plan = await json(['plan', '--node', NODE], agentPlanSchema, JSON.stringify(bundle));
    assert.equal(plan.manager, 'hastack');
    assert.match(plan.managerNote ?? '', /keeper/);
    assert.ok(plan.files.length >= 6, JSON.stringify(plan.files));
    assert.ok(
      plan.files.every((f) => f.status === 'new'),
      JSON.stringify(plan.files),
    );
    assert.deepEqual(plan.units.map((u) => u.name).sort(), [...UNITS].sort());
    assert.ok(plan.units.every((u) => u.changed && !u.active && u.role === 'service'));
    assert.equal(fs.existsSync(path.join(state, 'topology.json')), false, 'plan changes nothing');
  });

  it('apply writes the files (secrets 0600); a second plan finds everything the same', async () => {
    await json(['apply', '--node', NODE], agentPlanSchema, JSON.stringify(bundle));
    assert.equal(fs.statSync(path.join(state, 'secrets.json')).mode & 0o777, 0o600);
    assert.ok(fs.existsSync(path.join(state, 'units', 'hastack-agenttest-n1-redis.json')));
    const again = await json(['plan', '--node', NODE], agentPlanSchema, JSON.stringify(bundle));
    assert.ok(
      again.files.every((f) => f.status === 'same'),
      JSON.stringify(again.files),
    );
    assert.ok(again.units.every((u) => !u.changed));
  });

  it('a changed config shows as a redacted diff and marks the units changed', async () => {
    const changed: DeployBundle = { ...bundle, secrets: { ...bundle.secrets, redisPassword: 'another-password-value' }, configYaml: bundle.configYaml + '# edited\n' };
    const plan = await json(['plan', '--node', NODE], agentPlanSchema, JSON.stringify(changed));
    const sec = plan.files.find((f) => f.path.endsWith('secrets.json'));
    assert.equal(sec?.status, 'changed');
    assert.match(sec?.diff ?? '', /redisPassword/);
    assert.doesNotMatch(JSON.stringify(plan), /another-password-value/);
    assert.equal(plan.files.find((f) => f.path.endsWith('hastack.yaml'))?.diff, '+ # edited');
    assert.ok(plan.units.every((u) => u.changed));
  });

  it('start runs every unit under its keeper; each turns healthy', async () => {
    const started = await json(['start', ...UNITS], agentStatusSchema);
    assert.ok(
      started.units.every((u) => u.active),
      JSON.stringify(started),
    );
    for (const id of IDS) await waitHealthy(id);
    await json(['wire', '--id', 'n1/mariadb'], { parse: (v: unknown) => v });
    const s = await status();
    assert.ok(
      s.units.every((u) => u.active && u.pid !== undefined),
      JSON.stringify(s),
    );
    // idempotent: a second start changes nothing
    const again = await json(['start', ...UNITS], agentStatusSchema);
    assert.deepEqual(
      again.units.map((u) => u.pid),
      s.units.map((u) => u.pid),
    );
  });

  it('a SIGKILLed engine is restarted by its keeper (new pid, healthy again)', async () => {
    const before = (await status()).units.find((u) => u.serviceId === 'n1/redis');
    assert.ok(before?.pid);
    process.kill(before.pid, 'SIGKILL');
    const after = await waitFor(
      async () => {
        const u = (await status()).units.find((x) => x.serviceId === 'n1/redis');
        return u?.pid !== undefined && u.pid !== before.pid ? u : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.ok(after, 'a new redis pid');
    assert.ok((after.restarts ?? 0) >= 1);
    await waitHealthy('n1/redis');
  });

  it('node-down kills every process of the node and nothing restarts them', async () => {
    await status();
    const pids = [...seen];
    const down = await json(['node-down', '--node', NODE], agentStatusSchema);
    assert.ok(
      down.units.every((u) => !u.active && u.pid === undefined),
      JSON.stringify(down),
    );
    assert.deepEqual(pids.filter(pidAlive), []);
    // Nothing is left to restart them: no keeper runs, and the services stay unreachable.
    for (const id of IDS) assert.equal(await healthy(id), false, id);
    assert.ok((await status()).units.every((u) => !u.active));
  });

  it('node-up starts the node again in start order and waits until it is healthy', async () => {
    const up = await json(['node-up', '--node', NODE], nodeUpResultSchema);
    for (const id of IDS) assert.equal(up.probes[id]?.healthy, true, `${id}: ${JSON.stringify(up.probes[id])}`);
    const s = await status();
    assert.ok(
      s.units.every((u) => u.active && u.pid !== undefined),
      JSON.stringify(s),
    );
  });

  it('a service moved off the node: plan says so, apply stops its unit and removes it', async () => {
    await status();
    const moved: ConfigInput = { ...input, nodes: [{ ...input.nodes[0], services: ['mariadb', 'redis'] } as NonNullable<ConfigInput['nodes']>[number], ...input.nodes.slice(1)] };
    const without: DeployBundle = { ...bundle, topology: resolveTopology(parseConfig(moved), { stateRoot: dir, configDir: REPO_ROOT }), configYaml: renderConfigYaml(moved) };
    const specPath = path.join(state, 'units', 'hastack-agenttest-n1-memcached.json');
    const plan = await json(['plan', '--node', NODE], agentPlanSchema, JSON.stringify(without));
    assert.match(plan.files.find((f) => f.path === specPath)?.diff ?? '', /no longer wanted/);
    assert.ok(!plan.units.some((u) => u.serviceId === 'n1/memcached'));
    const mcPid = (await status()).units.find((u) => u.serviceId === 'n1/memcached')?.pid;
    assert.ok(mcPid);
    await json(['apply', '--node', NODE], agentPlanSchema, JSON.stringify(without));
    assert.equal(fs.existsSync(specPath), false);
    assert.equal(pidAlive(mcPid), false);
    assert.equal(await healthy('n1/redis'), true, 'the other units keep running');
    const again = await json(['plan', '--node', NODE], agentPlanSchema, JSON.stringify(without));
    assert.ok(
      again.files.every((f) => f.status === 'same'),
      JSON.stringify(again.files),
    );
  });

  it('stop stops every unit and leaves no process behind', async () => {
    await status();
    const stopped = await json(['stop', ...UNITS.slice(0, 2)], agentStatusSchema);
    assert.ok(
      stopped.units.every((u) => !u.active),
      JSON.stringify(stopped),
    );
    assert.deepEqual([...seen].filter(pidAlive), []);
    // stop is idempotent
    await json(['stop', ...UNITS.slice(0, 2)], agentStatusSchema);
  });

  it('errors are one line on stderr with exit 1', async () => {
    const r = await agent(['probe', '--id', 'n9/redis']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /no service "n9\/redis"/);
    const bad = await agent(['plan', '--node', NODE], 'not json');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /DeployBundle/);
  });
});
