import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig, resolveTopology, servicesOf, type Secrets } from '../config/index.js';
import { DbFactsWatch } from './facts.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-facts-unit-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

// Only the root password is used (the probe's login); the socket never gets that far.
const secrets: Secrets = { redisPassword: 'r', sentinelPassword: 's', dbRootPassword: 'root', dbAppPassword: 'a', dbReplPassword: 'p' };

describe("the automatic mode's snapshot (DbFactsWatch)", () => {
  it('answers within its bound while a silent node is still being asked, and asks that node once at a time', async () => {
    const topo = resolveTopology(
      parseConfig({
        cluster: 'factsunit',
        redis: { quorum: 1 },
        nodes: [
          { name: 'n1', services: ['mariadb', 'redis', 'app', 'lb'] },
          { name: 'n2', services: ['mariadb'] },
        ],
      }),
      { stateRoot: fs.mkdtempSync(path.join(root, 's-')), configDir: root },
    );
    const [silent, gone] = servicesOf(topo, 'mariadb');
    assert.ok(silent && gone);
    // n1: a socket that takes the connection and never sends MariaDB's handshake (a frozen
    // server); n2: no socket at all (refused at once, as a killed one).
    fs.mkdirSync(silent.dir, { recursive: true });
    const held: net.Socket[] = [];
    const server = net.createServer((s) => held.push(s));
    await new Promise<void>((resolve) => server.listen(path.join(silent.dir, 'mysqld.sock'), resolve));
    try {
      const watch = new DbFactsWatch({ topo, secrets }, 200);
      for (let round = 0; round < 3; round++) {
        const t0 = Date.now();
        const facts = await watch.snapshot();
        const took = Date.now() - t0;
        assert.ok(took < 1_000, `round ${round} took ${took} ms: it waited for the silent node's own timeout`);
        const [a, b] = facts;
        assert.equal(a?.reachable, false);
        assert.match(a?.error ?? '', /no answer within 200 ms \(still asking\)/);
        assert.equal(b?.reachable, false);
        assert.doesNotMatch(b?.error ?? '', /still asking/);
      }
      assert.equal(held.length, 1, 'one probe of the silent node at a time, shared by the rounds');
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
