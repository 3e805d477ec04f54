import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { ConfigInput } from '../../src/config/index.js';
import { pidAlive, runCli, tempDir } from './cli.js';

/** A cluster a test brings up through the real CLI, in its own temp dir and address range. */
export interface TestCluster {
  readonly dir: string;
  readonly configFile: string;
  readonly upOutput: string;
  down(): Promise<void>;
}

export async function upCluster(name: string, config: ConfigInput, upArgs: readonly string[] = []): Promise<TestCluster> {
  const dir = tempDir(name);
  const configFile = path.join(dir, 'hastack.yaml');
  fs.writeFileSync(configFile, YAML.stringify(config));
  const res = await runCli(['up', '--detach', '--no-install', ...upArgs, '-f', configFile], { cwd: dir, timeoutMs: 240_000 });
  const cluster: TestCluster = {
    dir,
    configFile,
    upOutput: res.stdout + res.stderr,
    async down() {
      // Stop, then make sure: every pid the cluster recorded must be gone.
      const run = path.join(dir, '.hastack', String(config.cluster ?? 'hastack'), 'run.json');
      const pids: number[] = [];
      try {
        const r = JSON.parse(fs.readFileSync(run, 'utf8')) as { supervisorPid: number; services: Record<string, { pid: number }> };
        pids.push(r.supervisorPid, ...Object.values(r.services).map((s) => s.pid));
      } catch {
        // never came up: nothing recorded
      }
      await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 });
      for (const pid of pids) if (pidAlive(pid)) process.kill(-pid, 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  if (res.code !== 0) {
    await cluster.down();
    throw new Error(`up failed (exit ${res.code}):\n${cluster.upOutput}`);
  }
  return cluster;
}
