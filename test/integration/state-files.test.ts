/**
 * Review item 9 (issue 17): state files. A refused `up` leaves topology.json as it was; a corrupt
 * run.json is never read as "not running"; a fenced old primary whose hastack-db.json is missing
 * or corrupt is not brought back writable. A small replication cluster on the local substrate:
 * db1 (mariadb, redis, app, lb) and db2 (mariadb), at 127.0.201.11-12, admin port 9291.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import YAML from 'yaml';
import type { ConfigInput } from '../../src/config/index.js';
import { readAdminToken } from '../../src/control/index.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';

const CLUSTER = 'hsr9state';
const ADMIN = 'http://127.0.201.254:9291';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Event {
  readonly type: string;
  readonly message: string;
}

describe('review item 9: state files', { timeout: 6 * 60_000 }, () => {
  const config: ConfigInput = {
    cluster: CLUSTER,
    addressBase: '127.0.201',
    nodes: [
      { name: 'db1', address: '127.0.201.11', services: ['mariadb', 'redis', 'app', 'lb'] },
      { name: 'db2', address: '127.0.201.12', services: ['mariadb'] },
    ],
    database: { mode: 'replication' },
    app: { module: path.join(REPO_ROOT, 'examples/erp') },
    supervisor: { adminPort: 9291 },
  };
  let c: TestCluster;
  let stateDir: string;
  const file = (...p: string[]): string => path.join(stateDir, ...p);
  const events = (): Event[] =>
    fs
      .readFileSync(file('events.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Event);
  const fault = async (f: Record<string, string>): Promise<void> => {
    const res = await request(`${ADMIN}/v1/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${readAdminToken(stateDir)}` },
      body: JSON.stringify(f),
    });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200, `fault ${JSON.stringify(f)}: ${text}`);
  };
  const waitEvent = async (re: RegExp, from: number): Promise<Event | undefined> => {
    for (let i = 0; i < 120; i++) {
      const e = events()
        .slice(from)
        .find((x) => re.test(x.message));
      if (e) return e;
      await sleep(500);
    }
    return undefined;
  };

  before(async () => {
    c = await upCluster('r9-state', config);
    stateDir = path.join(c.dir, '.hastack', CLUSTER);
  });
  after(async () => {
    await c?.down();
  });

  it('review item 9: a refused up leaves topology.json as it was', async () => {
    const before = fs.readFileSync(file('topology.json'));
    const changed = path.join(c.dir, 'changed.yaml');
    fs.writeFileSync(changed, YAML.stringify({ ...config, serviceName: 'changed.hastack.test' }));
    const r = await runCli(['up', '--detach', '--no-install', '-f', changed], { cwd: c.dir, timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /already running/);
    assert.ok(fs.readFileSync(file('topology.json')).equals(before), 'topology.json was rewritten by a refused up');
  });

  it('review item 9: a corrupt run.json is refused, never read as "not running"', async () => {
    const good = fs.readFileSync(file('run.json'));
    const n = events().length;
    try {
      fs.writeFileSync(file('run.json'), good.subarray(0, Math.floor(good.length / 2)));
      const r = await runCli(['up', '--detach', '--no-install', '-f', c.configFile], { cwd: c.dir, timeoutMs: 60_000 });
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /run\.json is corrupt \(not JSON/);
      assert.match(r.stderr, /A supervisor may still run this cluster/);
      assert.equal(
        events()
          .slice(n)
          .filter((e) => e.type === 'cluster.starting').length,
        0,
        'a second supervisor started',
      );
      const s = await runCli(['status', '-f', c.configFile], { cwd: c.dir, timeoutMs: 60_000 });
      assert.equal(s.code, 1);
      assert.match(s.stderr, /run\.json is corrupt/);
    } finally {
      fs.writeFileSync(file('run.json'), good);
    }
  });

  it('review item 9: a fenced old primary with a missing or corrupt state file is not brought back writable', async () => {
    const stateFile = file('db1', 'mariadb', 'hastack-db.json');
    // db1 (the primary) dies, and so does db2: no node answers as a writable primary.
    await fault({ action: 'kill-node', node: 'db1' });
    await fault({ action: 'kill-node', node: 'db2' });
    const kept = fs.readFileSync(stateFile);
    let mark = 0;
    try {
      fs.rmSync(stateFile);
      let n = events().length;
      await fault({ action: 'heal-node', node: 'db1' });
      const missing = await waitEvent(/restarting db1\/mariadb failed: .*hastack-db\.json is corrupt \(missing, while the node has a datadir\)/, n);
      assert.ok(
        missing,
        `db1 restarted without its state: ${events()
          .slice(n)
          .map((e) => e.message)
          .join(' | ')}`,
      );
      assert.match(missing.message, /Find the primary/);

      fs.writeFileSync(stateFile, '{"role": "prim');
      n = events().length;
      const corrupt = await waitEvent(/restarting db1\/mariadb failed: .*hastack-db\.json is corrupt \(not JSON/, n);
      assert.ok(
        corrupt,
        `db1 restarted from a corrupt state: ${events()
          .slice(n)
          .map((e) => e.message)
          .join(' | ')}`,
      );
      const started = events()
        .slice(n)
        .filter((e) => /restarted db1\/mariadb as pid/.test(e.message));
      assert.deepEqual(started, [], 'db1/mariadb was started');
    } finally {
      // Back as it was: db1 the primary, db2 its replica.
      mark = events().length;
      fs.writeFileSync(stateFile, kept);
      await fault({ action: 'heal-node', node: 'db2' });
    }
    assert.ok(await waitEvent(/restarted db1\/mariadb as pid/, mark), 'db1 starts again once its state is whole');
  });
});
