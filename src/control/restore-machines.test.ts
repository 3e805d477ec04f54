import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig, resolveTopology, servicesOf } from '../config/index.js';
import { readDbState } from '../engines/index.js';
import { readRestores } from '../failover/index.js';
import { asideDir, buildDir, cleanHere, placeHere } from './restore-machines.js';

function cluster(stateRoot: string) {
  const topo = resolveTopology(
    parseConfig({
      cluster: 'rsm',
      redis: { quorum: 1 },
      nodes: [
        { name: 'app1', services: ['lb', 'app', 'worker'] },
        { name: 'db1', services: ['mariadb', 'redis'] },
        { name: 'db2', services: ['mariadb', 'redis'] },
      ],
    }),
    { stateRoot, configDir: stateRoot },
  );
  const [primary, replica] = servicesOf(topo, 'mariadb');
  assert.ok(primary && replica);
  return { topo, primary, replica };
}

const restore = { id: 'rs-abc-0001', at: '2026-12-06T00:00:00.000Z', restoredTo: '0-1-42' };

describe('restore --into-cluster: the swap on one machine (placeHere)', () => {
  it('sets the datadir aside and puts the built one in place; a second call (a resumed run) changes nothing', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rsm-'));
    try {
      const { topo, primary, replica } = cluster(root);
      for (const [svc, what] of [
        [primary, 'old-primary'],
        [replica, 'old-replica'],
      ] as const) {
        fs.mkdirSync(path.join(svc.dir, 'data'), { recursive: true });
        fs.writeFileSync(path.join(svc.dir, 'data', 'marker'), what);
      }
      fs.mkdirSync(path.join(buildDir(primary, restore.id), 'data'), { recursive: true });
      fs.writeFileSync(path.join(buildDir(primary, restore.id), 'data', 'marker'), 'restored');
      for (let run = 0; run < 2; run++) {
        placeHere(topo, primary, restore.id, { built: true, restore });
        placeHere(topo, replica, restore.id, { built: false, state: { role: 'replica', wired: false }, restore });
      }
      assert.equal(fs.readFileSync(path.join(primary.dir, 'data', 'marker'), 'utf8'), 'restored');
      assert.equal(fs.readFileSync(path.join(asideDir(primary, restore.id), 'marker'), 'utf8'), 'old-primary');
      assert.equal(fs.existsSync(buildDir(primary, restore.id)), false);
      assert.equal(fs.existsSync(path.join(replica.dir, 'data')), false, "the replica's datadir is set aside (it is provisioned again)");
      assert.equal(fs.readFileSync(path.join(asideDir(replica, restore.id), 'marker'), 'utf8'), 'old-replica');
      assert.deepEqual(readDbState(replica), { role: 'replica', wired: false });
      assert.deepEqual(
        readRestores(topo.stateDir).map((r) => r.id),
        [restore.id],
      );
      cleanHere(primary, restore.id);
      cleanHere(replica, restore.id);
      assert.equal(fs.existsSync(asideDir(primary, restore.id)), false);
      assert.equal(fs.existsSync(asideDir(replica, restore.id)), false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a swap whose built datadir is missing, leaving the datadir where it is', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rsm-'));
    try {
      const { topo, primary } = cluster(root);
      fs.mkdirSync(path.join(primary.dir, 'data'), { recursive: true });
      assert.throws(() => placeHere(topo, primary, restore.id, { built: true, restore }), /restored datadir .* is missing/);
      assert.equal(fs.existsSync(path.join(primary.dir, 'data')), true);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
