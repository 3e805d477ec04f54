import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { appDirDigest } from './app-dir.js';

describe('app.dir digest (deploy restarts a command app when its files change)', () => {
  it('follows contents, not mtimes; ignores the state root and .git', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-appdir-'));
    try {
      fs.writeFileSync(path.join(dir, 'app.py'), 'print(1)\n');
      fs.mkdirSync(path.join(dir, '.hastack', 'c'), { recursive: true });
      fs.mkdirSync(path.join(dir, '.git'));
      const first = await appDirDigest(dir, path.join(dir, '.hastack'));
      fs.writeFileSync(path.join(dir, '.hastack', 'c', 'secrets.json'), '{}');
      fs.writeFileSync(path.join(dir, '.git', 'HEAD'), 'x');
      fs.utimesSync(path.join(dir, 'app.py'), new Date(0), new Date(0));
      assert.equal(await appDirDigest(dir, path.join(dir, '.hastack')), first);
      fs.writeFileSync(path.join(dir, 'app.py'), 'print(2)\n');
      assert.notEqual(await appDirDigest(dir, path.join(dir, '.hastack')), first);
      await assert.rejects(appDirDigest(path.join(dir, 'nope'), dir), /app\.dir .* is not a directory/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
