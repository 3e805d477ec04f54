import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import YAML from 'yaml';
import { readTopology, servicesOf, type ConfigInput, type ServiceKind, type Topology } from '../../src/config/index.js';
import { logFileOf } from '../../src/control/index.js';
import { readEventsFrom, type ClusterEvent } from '../../src/shared/events.js';
import { pidAlive, runCli, tempDir, type CliResult } from './cli.js';
import { networkLeftovers } from './netns.js';

/** A cluster a test brings up through the real CLI, in its own temp dir and address range. */
export interface TestCluster {
  readonly dir: string;
  readonly configFile: string;
  readonly upOutput: string;
  /** `.hastack/<cluster>` under `dir`. */
  readonly stateDir: string;
  down(): Promise<void>;
}

/**
 * The config written to `hastack.yaml` in a fresh temp dir, not started (for `chaos run --up`,
 * which brings it up and down itself). `down()` is the backstop: `hastack down`, then every pid
 * the cluster recorded must be gone, then the dir is removed.
 */
export function writeCluster(name: string, config: ConfigInput): TestCluster {
  const dir = tempDir(name);
  const configFile = path.join(dir, 'hastack.yaml');
  fs.writeFileSync(configFile, YAML.stringify(config));
  const stateDir = path.join(dir, '.hastack', String(config.cluster ?? 'hastack'));
  return {
    dir,
    configFile,
    upOutput: '',
    stateDir,
    async down() {
      // Stop, then make sure: every pid the cluster recorded must be gone.
      const pids: number[] = [];
      try {
        const r = JSON.parse(fs.readFileSync(path.join(stateDir, 'run.json'), 'utf8')) as { supervisorPid: number; services: Record<string, { pid: number }> };
        pids.push(r.supervisorPid, ...Object.values(r.services).map((s) => s.pid));
      } catch {
        // never came up: nothing recorded
      }
      await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 });
      for (const pid of pids) if (pidAlive(pid)) process.kill(-pid, 'SIGKILL');
      // HASTACK_TEST_KEEP_DIR=1: the directory (logs, event log, datadirs) stays for a look; the processes are stopped all the same.
      if (process.env['HASTACK_TEST_KEEP_DIR'] === '1') process.stdout.write(`# kept ${dir}\n`);
      else fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `env`: added to `up`'s environment, which the detached supervisor inherits (HASTACK_FAILPOINTS). */
export async function upCluster(name: string, config: ConfigInput, upArgs: readonly string[] = [], env: Record<string, string> = {}): Promise<TestCluster> {
  const files = writeCluster(name, config);
  const res = await runCli(['up', '--detach', '--no-install', ...upArgs, '-f', files.configFile], { cwd: files.dir, timeoutMs: 240_000, env });
  const cluster: TestCluster = { ...files, upOutput: res.stdout + res.stderr };
  if (res.code !== 0) {
    await cluster.down();
    throw new Error(`up failed (exit ${res.code}):\n${cluster.upOutput}`);
  }
  return cluster;
}

/** A cluster of a `describe`, up in its `before` and down in its `after`: read it inside tests. */
export interface UsedCluster extends TestCluster {
  readonly cluster: TestCluster;
  readonly topo: Topology;
}

/**
 * Registers `before` (upCluster, read its topology) and `after` (down; on the netns substrate no
 * namespace or link of the cluster may be left) in the calling `describe`.
 */
export function useCluster(name: string, config: ConfigInput, upArgs: readonly string[] = [], env: Record<string, string> = {}): UsedCluster {
  let cluster: TestCluster | undefined;
  let topo: Topology | undefined;
  before(async () => {
    cluster = await upCluster(name, config, upArgs, env);
    topo = readTopology(cluster.stateDir);
  });
  after(async () => {
    await cluster?.down();
    if (config.substrate === 'netns' || upArgs.includes('netns')) {
      assert.deepEqual(networkLeftovers(String(config.cluster)), [], 'hastack namespaces or links left behind');
    }
  });
  const need = <T>(v: T | undefined): T => v ?? assert.fail('the cluster is not up (its before hook failed)');
  return {
    get cluster() {
      return need(cluster);
    },
    get topo() {
      return need(topo);
    },
    get dir() {
      return need(cluster).dir;
    },
    get configFile() {
      return need(cluster).configFile;
    },
    get upOutput() {
      return need(cluster).upOutput;
    },
    get stateDir() {
      return need(cluster).stateDir;
    },
    down: () => need(cluster).down(),
  };
}

/**
 * Follows the cluster's event log from where it ends now: each call of the returned function
 * hands `onEvent` the events written since the last call (a test polls it while a chaos run goes).
 */
export function followEvents(stateDir: string, onEvent: (e: ClusterEvent) => void): () => void {
  let pos = fs.statSync(path.join(stateDir, 'events.jsonl')).size;
  return () => {
    const r = readEventsFrom(stateDir, pos);
    pos = r.offset;
    for (const e of r.events) onEvent(e);
  };
}

/**
 * `hastack chaos run SCENARIO --json` against the cluster (`args` added), its output printed
 * whole; the report it wrote, parsed (a test asserts on both).
 */
export async function chaosRun<R>(cluster: TestCluster, scenario: string, args: readonly string[], timeoutMs = 120_000): Promise<{ res: CliResult; report: R }> {
  const json = path.join(cluster.dir, `${scenario}.json`);
  const res = await runCli(['chaos', 'run', scenario, ...args, '--json', json, '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs });
  process.stdout.write(res.stdout);
  assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
  return { res, report: JSON.parse(fs.readFileSync(json, 'utf8')) as R };
}

/** The event log's last `n` lines, to the test output: what the cluster did (fences, the controllers' decisions) when a test fails, since its directory is gone afterwards. */
export function printEventTail(stateDir: string, n = 80): void {
  const file = path.join(stateDir, 'events.jsonl');
  const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').slice(-n) : [];
  process.stdout.write(`# the event log's last ${lines.length} lines:\n${lines.map((l) => `#   ${l.slice(0, 400)}`).join('\n')}\n`);
}

/**
 * The warnings and errors (pino level 40 and up) in the logs of every `kind` service of the
 * cluster, last `n`, to the test output: where a failed request's cause is (the load balancer
 * says which attempt failed how; the app server what it threw).
 */
export function printServiceWarnings(stateDir: string, kind: ServiceKind, n = 40): void {
  const lines: string[] = [];
  for (const svc of servicesOf(readTopology(stateDir), kind)) {
    const file = logFileOf(svc);
    if (!fs.existsSync(file)) continue;
    for (const l of fs.readFileSync(file, 'utf8').split('\n')) if (/"level":(4|5|6)0\b/.test(l)) lines.push(`${svc.node}: ${l}`);
  }
  process.stdout.write(
    `# ${kind} warnings and errors (last ${Math.min(n, lines.length)} of ${lines.length}):\n${lines
      .slice(-n)
      .map((l) => `#   ${l.slice(0, 600)}`)
      .join('\n')}\n`,
  );
}
