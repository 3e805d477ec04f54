/**
 * Review item 13 (issue 17): backup retention never lets broken or unverified backups push out
 * the last good one. Real backups of the `simple` preset with `backup.keep: 1`: backup A passes
 * `restore --verify`; backup B is taken (A must survive: it is the only one known to restore);
 * B is damaged and fails `restore --verify`; backup C is taken: B is pruned, A and C stay; C
 * passes verification and backup D is taken: now A goes (C is the newest good one).
 *
 * Namespace: addresses 127.0.207.21-22 (and the supervisor's 127.0.207.254:9208), cluster
 * `bkret`, state in a fresh temp directory; stopped with `down`, every recorded pid checked.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { preset } from '../../src/config/index.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { testRange } from '../../kit/addresses.js';

const BASE = testRange('backup-retention').base;

interface ListJson {
  backups: Array<{ id: string; node: string; dir: string; verification: { ok: boolean } | null }>;
}

describe('review item 13: a backup that failed verification never pushes out the last good one', { timeout: 420_000 }, () => {
  let cluster: TestCluster | undefined;
  const c = (): TestCluster => cluster ?? assert.fail('cluster not up');

  async function list(): Promise<ListJson['backups']> {
    const r = await runCli(['backup', 'list', '--json', '-f', c().configFile], { cwd: c().dir });
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as ListJson).backups;
  }

  async function backup(): Promise<{ id: string; output: string }> {
    const before = new Set((await list()).map((b) => b.id));
    const r = await runCli(['backup', '-f', c().configFile], { cwd: c().dir, timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const added = (await list()).filter((b) => !before.has(b.id));
    assert.equal(added.length, 1, `one new backup: ${JSON.stringify(added)}`);
    return { id: added[0]?.id ?? '', output: r.stdout };
  }

  async function verify(id: string): Promise<number> {
    const r = await runCli(['restore', '--verify', id, '-f', c().configFile], { cwd: c().dir, timeoutMs: 180_000 });
    return r.code;
  }

  before(async () => {
    const simple = preset('simple');
    cluster = await upCluster('bkret', {
      ...simple,
      cluster: 'bkret',
      addressBase: BASE,
      nodes: (simple.nodes ?? []).map((n, i) => ({ ...n, address: `${BASE}.${21 + i}` })),
      app: { module: path.join(REPO_ROOT, 'examples/erp') },
      supervisor: { adminPort: 9208 },
      backup: { keep: 1 },
    });
  });

  after(async () => {
    await cluster?.down();
  });

  it('keeps the verified backup through a broken one, prunes the broken one first', async () => {
    const a = await backup();
    assert.equal(await verify(a.id), 0, `backup A ${a.id} restores`);

    // keep 1, but A is the only backup known to restore: the new B (unverified) does not push it out.
    const b = await backup();
    let ids = (await list()).map((x) => x.id);
    assert.deepEqual(ids, [a.id, b.id], `after B: ${ids.join(' ')}`);

    // B is damaged on disk and fails verification.
    const bDir = (await list()).find((x) => x.id === b.id)?.dir ?? assert.fail();
    const ibd = path.join(bDir, 'mariadb', 'app', 'sales_orders.ibd');
    fs.truncateSync(ibd, Math.floor(fs.statSync(ibd).size / 4));
    assert.equal(await verify(b.id), 1, 'backup B is reported broken');

    // C: the broken B is pruned, the good A and the new C stay.
    const cB = await backup();
    ids = (await list()).map((x) => x.id);
    assert.deepEqual(ids, [a.id, cB.id], `after C: ${ids.join(' ')}`);
    assert.match(cB.output, new RegExp(`removed backup ${b.id} \\(failed verification\\)`));

    // C restores; D is taken: C is now the newest good one, so A goes.
    assert.equal(await verify(cB.id), 0, `backup C ${cB.id} restores`);
    const d = await backup();
    ids = (await list()).map((x) => x.id);
    assert.deepEqual(ids, [cB.id, d.id], `after D: ${ids.join(' ')}`);
    console.log(`# A ${a.id} (verified) survived B ${b.id} (failed verification, pruned at C ${cB.id}); A pruned at D ${d.id} once C verified`);
  });
});
