/**
 * The cache client's own behaviour: single-flight read-through, ejection and rejoin events, key
 * prefixing. Ejection needs no engine (a refused port); rejoin and prefixing use a real
 * memcached on 127.0.47.10-11, started here and killed by its pid.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readEventsFrom } from '../../shared/events.js';
import { waitFor } from '../../shared/retry.js';
import { cacheEventRecorder, CacheClient, type CacheNodeEvent } from './index.js';
import { portOpen } from '../../shared/net.js';

const HAS_MEMCACHED = spawnSync('memcached', ['-V'], { encoding: 'utf8' }).status === 0;
const AS_ROOT = process.getuid?.() === 0;
// Nothing listens here: every connection is refused at once (our own test address range).
const REFUSED = { address: '127.0.47.20', port: 11211 };

const started: ChildProcess[] = [];

async function startMemcached(address: string): Promise<ChildProcess> {
  // -m 8: these tests store a few keys; -U 0: no UDP.
  const child = spawn('memcached', ['-l', address, '-p', '11211', '-U', '0', '-m', '8', ...(AS_ROOT ? ['-u', 'root'] : [])], { stdio: 'ignore' });
  started.push(child);
  // 5 s: memcached listens within milliseconds; this only bounds a broken start.
  const up = await waitFor(async () => ((await portOpen(address, 11211)) ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
  assert.ok(up, `memcached on ${address} did not start`);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  await exited;
}

after(async () => {
  for (const c of started) await stop(c);
});

describe('CacheClient getOrLoad (single-flight)', () => {
  it('with no usable node, concurrent misses of one key still make one loader call', async () => {
    const cache = new CacheClient([REFUSED], { failuresToEject: 1 });
    try {
      let calls = 0;
      const loader = async (): Promise<{ sku: string }> => {
        calls++;
        await new Promise((r) => setTimeout(r, 20));
        return { sku: 'A' };
      };
      const got = await Promise.all(Array.from({ length: 25 }, () => cache.getOrLoad('item:A', 5, loader)));
      assert.equal(calls, 1);
      for (const g of got) assert.deepEqual(g, { sku: 'A' });
      assert.equal(cache.stats().coalesced, 24);
      assert.equal(cache.stats().loads, 1);
    } finally {
      await cache.close();
    }
  });

  it('a loader error reaches its callers; the cache itself never throws', async () => {
    const cache = new CacheClient([REFUSED]);
    try {
      await assert.rejects(Promise.all([cache.getOrLoad('k', 5, () => Promise.reject(new Error('db down'))), cache.getOrLoad('k', 5, () => Promise.resolve(1))]), /db down/);
      assert.equal(await cache.get('k'), undefined);
      assert.equal(await cache.set('k', 1, 5), false);
      assert.equal(await cache.deleteMany(['k', 'j']), false);
    } finally {
      await cache.close();
    }
  });

  it('caches the loaded value, not undefined, and not a value a concurrent delete made stale', { skip: !HAS_MEMCACHED }, async () => {
    await startMemcached('127.0.47.10');
    const cache = new CacheClient([{ address: '127.0.47.10', port: 11211 }], { keyPrefix: `sf${process.pid}:` });
    try {
      let calls = 0;
      const load = async (): Promise<number> => ++calls;
      assert.equal(await cache.getOrLoad('n', 30, load), 1);
      assert.equal(await cache.getOrLoad('n', 30, load), 1, 'second call is a hit');
      assert.equal(calls, 1);

      assert.equal(await cache.getOrLoad('missing', 30, async () => undefined), undefined);
      assert.equal(await cache.getOrLoad('missing', 30, async () => 'now here'), 'now here', 'undefined was not cached');

      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => (release = r));
      const loading = cache.getOrLoad('price', 30, async () => {
        await held;
        return 'old price';
      });
      // The write commits and deletes the key while the load still holds the old value.
      await new Promise((r) => setTimeout(r, 10));
      assert.equal(await cache.deleteMany(['price']), true);
      release();
      assert.equal(await loading, 'old price');
      assert.equal(await cache.get('price'), undefined, 'the stale load was not cached');
    } finally {
      await cache.close();
    }
  });
});

describe('CacheClient ejection and rejoin', () => {
  it('a node failing N ops in a row is ejected once, with an event, and its ops are misses', async () => {
    const events: CacheNodeEvent[] = [];
    // 60 s probe: this test only looks at the ejection.
    const cache = new CacheClient([{ ...REFUSED, name: 'cacheX' }], { failuresToEject: 3, probeMinMs: 60_000, onNodeEvent: (e) => events.push(e) });
    try {
      assert.equal(await cache.get('a'), undefined);
      assert.equal(await cache.set('a', 1, 5), false);
      assert.equal(events.length, 0, 'two failures are not an outage');
      assert.equal(cache.stats().ejectedNodes, 0);
      assert.equal(await cache.delete('a'), false);
      assert.equal(events.length, 1);
      assert.equal(events[0]?.type, 'ejected');
      assert.equal(events[0]?.node, '127.0.47.20:11211');
      assert.equal(events[0]?.name, 'cacheX');
      assert.equal(events[0]?.failures, 3);
      assert.match(events[0]?.reason ?? '', /ECONNREFUSED/);
      // Ejected: skipped without a network call, so no further errors and no further events.
      assert.equal(await cache.get('a'), undefined);
      const s = cache.stats();
      assert.deepEqual([s.ejectedNodes, s.ejections, s.rejoins, s.errors, s.misses], [1, 1, 0, 3, 2]);
      assert.equal(cache.health()[0]?.up, false);
    } finally {
      await cache.close();
    }
  });

  it('the event recorder writes ejections to the cluster event log', async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hx-cache-events-'));
    const cache = new CacheClient([{ ...REFUSED, name: 'cacheZ' }], { failuresToEject: 1, probeMinMs: 60_000, onNodeEvent: cacheEventRecorder(stateDir) });
    try {
      await cache.get('a');
      const { events } = readEventsFrom(stateDir, 0);
      assert.equal(events.length, 1);
      assert.equal(events[0]?.type, 'cache.ejected');
      assert.equal(events[0]?.node, 'cacheZ');
      assert.equal(events[0]?.service, 'memcached');
      assert.match(events[0]?.message ?? '', /cacheZ \(127\.0\.47\.20:11211\) ejected/);
    } finally {
      await cache.close();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('a listener that throws does not make the cache throw', async () => {
    const cache = new CacheClient([REFUSED], {
      failuresToEject: 1,
      probeMinMs: 60_000,
      onNodeEvent: () => {
        throw new Error('disk full');
      },
    });
    try {
      assert.equal(await cache.get('a'), undefined);
      assert.equal(cache.stats().ejections, 1);
    } finally {
      await cache.close();
    }
  });

  it('an ejected node is re-probed and rejoins when it answers, with an event', { skip: !HAS_MEMCACHED }, async () => {
    const address = '127.0.47.11';
    const events: CacheNodeEvent[] = [];
    // 100 ms first probe, 400 ms cap: the node comes back within a second of being started.
    const cache = new CacheClient([{ address, port: 11211, name: 'cacheY' }], { probeMinMs: 100, probeMaxMs: 400, onNodeEvent: (e) => events.push(e) });
    try {
      await cache.get('a');
      await cache.get('b');
      assert.deepEqual(
        events.map((e) => e.type),
        ['ejected'],
      );
      const mc = await startMemcached(address);
      // 5 s: several probe rounds at the 400 ms cap.
      const back = await waitFor(async () => (events.some((e) => e.type === 'rejoined') ? true : undefined), { timeoutMs: 5_000, intervalMs: 50 });
      assert.ok(back, 'rejoined after the node came up');
      assert.deepEqual(
        events.map((e) => e.type),
        ['ejected', 'rejoined'],
      );
      assert.equal(events[1]?.name, 'cacheY');
      assert.equal(await cache.set('a', 'x', 30), true);
      assert.equal(await cache.get('a'), 'x');
      const s = cache.stats();
      assert.deepEqual([s.ejectedNodes, s.ejections, s.rejoins], [0, 1, 1]);
      await stop(mc);
    } finally {
      await cache.close();
    }
  });
});

describe('CacheClient key prefixing', () => {
  it('puts the cluster prefix, then the app prefix, in front of every key on the wire', { skip: !HAS_MEMCACHED }, async () => {
    const address = '127.0.47.10';
    if (!(await portOpen(address, 11211))) await startMemcached(address);
    const node = [{ address, port: 11211 }];
    const tag = `p${process.pid}`;
    const clusterA = new CacheClient(node, { keyPrefix: `${tag}a:` });
    const clusterB = new CacheClient(node, { keyPrefix: `${tag}b:` });
    const raw = new CacheClient(node);
    try {
      const erpA = clusterA.withPrefix('erp:');
      assert.equal(clusterA.wireKey('item:1', 'erp:'), `${tag}a:erp:item:1`);
      assert.equal(await erpA.set('item:1', { v: 1 }, 30), true);
      assert.deepEqual(await raw.get(`${tag}a:erp:item:1`), { v: 1 }, 'stored under the prefixed key');
      assert.equal(await clusterB.withPrefix('erp:').get('item:1'), undefined, 'another cluster does not see it');
      assert.equal(await clusterA.withPrefix('crm:').get('item:1'), undefined, 'another app does not see it');
      assert.equal(await clusterA.get('item:1'), undefined, 'the bare cluster namespace does not see it');
      assert.equal(await erpA.deleteMany(['item:1']), true);
      assert.equal(await raw.get(`${tag}a:erp:item:1`), undefined);
      // Unsafe app keys are hashed inside the namespace, never sent raw.
      assert.match(clusterA.wireKey('a key with spaces', 'erp:'), new RegExp(`^${tag}a:erp:#[0-9a-f]{40}$`));
      assert.throws(() => clusterA.withPrefix('bad prefix'), { code: 'APP_INVALID' });
      assert.throws(() => new CacheClient(node, { keyPrefix: 'bad prefix' }), { code: 'CONFIG_INVALID' });
    } finally {
      await Promise.all([clusterA.close(), clusterB.close(), raw.close()]);
    }
  });
});
