import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HastackError } from '../shared/errors.js';
import { waitFor } from '../shared/retry.js';
import { stopProcessesNaming } from './backup-store.js';
import { runTool } from './backup-tools.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-tools-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    return !/\)\s+Z\s/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('the helpers of a backup', () => {
  it('a helper dies with the process that runs it (a backup killed mid-way leaves no mariabackup writing)', async () => {
    const tools = path.join(path.dirname(fileURLToPath(import.meta.url)), 'backup-tools.js');
    const script = `import(${JSON.stringify(tools)}).then((m) => m.runTool('sleep', ['300'], { logFile: ${JSON.stringify(path.join(dir, 'log'))}, timeoutMs: 600000, what: 'sleep', onSpawn: (pid) => console.log(pid) }))`;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((res) => parent.stdout.once('data', (b: Buffer) => res(Number(b.toString().trim()))));
    try {
      assert.ok(alive(pid), 'the helper runs');
      assert.deepEqual(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'), ['sleep', '300', ''], 'the helper itself, not a wrapper');
      parent.kill('SIGKILL');
      assert.ok(await waitFor(async () => (alive(pid) ? undefined : true), { timeoutMs: 10_000, intervalMs: 20 }), `pid ${pid} outlived its parent`);
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('a missing tool is a clear error naming it', async () => {
    await assert.rejects(
      runTool('hastack-no-such-tool', [], { logFile: path.join(dir, 'log'), timeoutMs: 10_000, what: 'nothing' }),
      (e: unknown) => e instanceof HastackError && e.code === 'ENGINE_MISSING' && /cannot run hastack-no-such-tool; run "hastack doctor"/.test(e.message),
    );
  });

  it('stopProcessesNaming stops the helpers still running in a leftover directory, and nothing else', async () => {
    const leftover = path.join(dir, '.staging-20261207T065226Z');
    const keep = (arg: string) => spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300000)', '--', arg], { stdio: 'ignore' });
    const inside = keep(`--target-dir=${leftover}/mariadb`);
    const beside = keep(`--target-dir=${leftover}0/mariadb`);
    try {
      const named = (p: number | undefined) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(leftover);
      assert.ok(await waitFor(async () => (named(inside.pid) && named(beside.pid) ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 }));
      assert.deepEqual(stopProcessesNaming(leftover, ['node']), [inside.pid]);
      assert.equal(alive(inside.pid ?? 0), false);
      assert.equal(alive(beside.pid ?? 0), true, 'a directory whose name only starts the same is not this one');
      assert.deepEqual(stopProcessesNaming(`${leftover}0`), [], 'a program that is no helper of ours is left alone');
      assert.deepEqual(stopProcessesNaming(leftover, ['node']), []);
    } finally {
      inside.kill('SIGKILL');
      beside.kill('SIGKILL');
    }
  });
});
