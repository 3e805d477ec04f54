import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig, resolveTopology } from '../../config/index.js';
import { StatusFeed } from './feed.js';

describe('review item 5: status feed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hx-feed-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Every service on one address of this test's range where nothing listens: each probe is refused at once.
  const topo = resolveTopology(
    parseConfig({
      cluster: 'feedunit',
      addressBase: '127.0.204',
      redis: { quorum: 1 },
      nodes: [{ name: 'n1', address: '127.0.204.200', services: ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'lb'] }],
    }),
    { stateRoot: dir, configDir: dir },
  );
  const secrets = { redisPassword: 'x', sentinelPassword: 'x', dbRootPassword: 'x', dbAppPassword: 'x', dbReplPassword: 'x' };

  it('concurrent snapshots share one probe (single-flight): every caller gets the same snapshot', async () => {
    const feed = new StatusFeed(topo, secrets);
    try {
      const all = await Promise.all(Array.from({ length: 50 }, () => feed.snapshot()));
      assert.equal(new Set(all).size, 1);
      assert.ok(all[0]?.services.every((x) => !x.healthy));
    } finally {
      feed.close();
    }
  });
});
