import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HastackError } from '../shared/errors.js';
import { waitFor } from '../shared/retry.js';
import { running as alive, stopProcessesNaming } from './backup-store.js';
import { runTool } from './backup-tools.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-tools-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the helpers of a backup', () => {
  it('a helper dies with the process that runs it (a backup killed mid-way leaves no mariabackup writing)', async () => {
    const tools = path.join(path.dirname(fileURLToPath(import.meta.url)), 'backup-tools.js');
    const script = `import(${JSON.stringify(tools)}).then((m) => m.runTool('sleep', ['300'], { logFile: ${JSON.stringify(path.join(dir, 'log'))}, timeoutMs: 600000, what: 'sleep' }))`;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    // The helper is the child process of that process's main thread.
    const children = (): number[] => fs.readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    const isSleep = (p: number): boolean => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep\0');
      } catch {
        return false; // setpriv exec'ing, or gone
      }
    };
    const pid = (await waitFor(async () => children().find(isSleep), { timeoutMs: 10_000, intervalMs: 20 })) ?? assert.fail('the helper did not start');
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
