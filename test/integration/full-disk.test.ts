/**
 * Review item 8 (issue 17): a full disk must not kill the supervisor. The whole state directory
 * of a one-node cluster sits on a tmpfs this test mounts (root only); the disk is filled, a
 * service is killed so the supervisor restarts it (its event-log appends and run.json writes
 * fail), and the supervisor must live on and restart it; once space returns, a `log.lost` event
 * says how many events were lost. Address 127.0.201.21, admin port 9292.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import YAML from 'yaml';
import type { ConfigInput } from '../../src/config/index.js';
import { readAdminToken } from '../../src/control/index.js';
import { pidAlive, REPO_ROOT, runCli } from '../helpers/cli.js';

const skip = process.getuid?.() !== 0 ? 'needs root (mount tmpfs)' : false;
const CLUSTER = 'hsr8disk';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Run {
  readonly supervisorPid: number;
  readonly services: Record<string, { pid: number }>;
}

describe('review item 8: a full disk', { skip, timeout: 5 * 60_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-r8-disk-'));
  const stateDir = path.join(dir, '.hastack', CLUSTER);
  const configFile = path.join(dir, 'hastack.yaml');
  const config: ConfigInput = {
    cluster: CLUSTER,
    addressBase: '127.0.201',
    nodes: [{ name: 'n1', address: '127.0.201.21', services: ['mariadb', 'redis', 'app', 'lb'] }],
    database: { mode: 'replication' },
    app: { module: path.join(REPO_ROOT, 'examples/erp') },
    supervisor: { adminPort: 9292 },
  };
  let mounted = false;
  let pids: number[] = [];
  const readRun = (): Run => JSON.parse(fs.readFileSync(path.join(stateDir, 'run.json'), 'utf8')) as Run;
  const fill = (): void => {
    // 1 MiB blocks, then 4 KiB ones for what is left: dd stops at ENOSPC (its non-zero exit is expected).
    spawnSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'filler-1')}`, 'bs=1M'], { stdio: 'ignore' });
    spawnSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'filler-2')}`, 'bs=4k'], { stdio: 'ignore' });
    // tmpfs allocates whole pages: the event log's last page may still take a few lines. Fill it
    // with blank lines (readers skip them) until even one byte fails.
    const events = path.join(stateDir, 'events.jsonl');
    for (let i = 0; i < 8192; i++) {
      try {
        fs.appendFileSync(events, '\n');
      } catch {
        return;
      }
    }
  };
  const appAnswers = async (): Promise<boolean> => {
    try {
      const res = await request('http://127.0.201.21:8000/healthz', { headersTimeout: 2_000, bodyTimeout: 2_000 });
      await res.body.text();
      return res.statusCode === 200;
    } catch {
      return false;
    }
  };

  before(async () => {
    // 600 MiB: the cluster's datadirs and logs take ~250 MiB.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=600m,mode=0755', 'tmpfs', dir]);
    mounted = true;
    fs.writeFileSync(configFile, YAML.stringify(config));
    const r = await runCli(['up', '--detach', '--no-install', '-f', configFile], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const run = readRun();
    pids = [run.supervisorPid, ...Object.values(run.services).map((s) => s.pid)];
  });
  after(async () => {
    for (const f of ['filler-1', 'filler-2']) fs.rmSync(path.join(dir, f), { force: true });
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 });
    for (const pid of pids) if (pidAlive(pid)) process.kill(-pid, 'SIGKILL');
    if (mounted) execFileSync('umount', [dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('review item 8: the supervisor lives on, restarts a crashed service, and reports the lost events when space returns', async () => {
    const run = readRun();
    const sup = run.supervisorPid;
    const app = run.services['n1/app']?.pid;
    assert.ok(app, JSON.stringify(run));
    fill();
    assert.throws(() => fs.appendFileSync(path.join(stateDir, 'events.jsonl'), 'x'), /ENOSPC/, 'the disk is full');

    // A crash: the supervisor restarts it, and every event and run.json write of that fails.
    process.kill(app, 'SIGKILL');
    let back = false;
    for (let i = 0; i < 60 && !back; i++) {
      await sleep(500);
      back = (await appAnswers()) && pidAlive(sup);
    }
    assert.ok(pidAlive(sup), 'the supervisor died on a full disk');
    assert.ok(back, 'the crashed app was not restarted');
    await sleep(3_000); // a few liveness rounds on the full disk
    assert.ok(pidAlive(sup), 'the supervisor died on a full disk');

    // Space returns: the next event says how many were lost.
    for (const f of ['filler-1', 'filler-2']) fs.rmSync(path.join(dir, f));
    const res = await request(`http://127.0.201.254:9292/v1/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${readAdminToken(stateDir)}` },
      body: JSON.stringify({ action: 'heal-node', node: 'n1' }),
    });
    await res.body.text();
    assert.equal(res.statusCode, 200, 'the heal (which writes an event) was accepted');
    let lost: { message: string; data?: { lost?: number } } | undefined;
    for (let i = 0; i < 40 && !lost; i++) {
      const lines = fs
        .readFileSync(path.join(stateDir, 'events.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"log.lost"'));
      if (lines.length > 0) lost = JSON.parse(lines[lines.length - 1] as string) as typeof lost;
      else await sleep(500);
    }
    assert.ok(lost, 'no log.lost event once space returned');
    process.stdout.write(`${lost.message}\n`);
    assert.ok((lost.data?.lost ?? 0) >= 1);
    assert.match(lost.message, /ENOSPC/);
    // run.json stayed whole, and is written again (next liveness round) with the restarted app.
    let now = readRun().services['n1/app']?.pid;
    for (let i = 0; i < 20 && now === app; i++) {
      await sleep(500);
      now = readRun().services['n1/app']?.pid;
    }
    assert.notEqual(now, app);
  });
});
