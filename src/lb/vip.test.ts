import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { waitFor } from '../shared/retry.js';
import { decodeHeartbeat, encodeHeartbeat, takeoverDue, VipKeeper, type VipPeer } from './vip.js';
import { closeServer, listen } from './server.js';

// Addresses of the lb unit tests' block (127.0.71.x); nothing else listens there.
const A: VipPeer = { id: 'lb1/lb', address: '127.0.71.1', rank: 0 };
const B: VipPeer = { id: 'lb2/lb', address: '127.0.71.2', rank: 1 };
const VIP = '127.0.71.200';
const PORT = 18080;
const INTERVAL_MS = 50;
const log = pino({ level: 'silent' });

function answering(name: string): () => http.Server {
  return () => http.createServer((_req, res) => res.end(name));
}

function keeper(self: VipPeer, peers: VipPeer[], vip = VIP): VipKeeper {
  return new VipKeeper({ cluster: 't', vip, port: PORT, intervalMs: INTERVAL_MS, self, peers, createListener: answering(self.id), log });
}

async function who(vip = VIP): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: vip, port: PORT, path: '/', agent: false, timeout: 500 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

describe('takeoverDue', () => {
  it('waits three intervals after the last heartbeat', () => {
    assert.equal(takeoverDue(1_000 + 149, 1_000, 0, 50, 0), false);
    assert.equal(takeoverDue(1_000 + 150, 1_000, 0, 50, 0), true);
  });
  it('at a cold start, later lbs of the config wait one interval more per rank', () => {
    assert.equal(takeoverDue(150, undefined, 0, 50, 0), true);
    assert.equal(takeoverDue(150, undefined, 0, 50, 1), false);
    assert.equal(takeoverDue(200, undefined, 0, 50, 1), true);
  });
});

describe('heartbeat encoding', () => {
  it('round-trips and rejects anything else', () => {
    assert.deepEqual(decodeHeartbeat(encodeHeartbeat({ cluster: 'c', vip: '127.0.0.9', from: 'lb1/lb' })), { cluster: 'c', vip: '127.0.0.9', from: 'lb1/lb' });
    assert.deepEqual(decodeHeartbeat(encodeHeartbeat({ cluster: 'c', vip: 'v', from: 'x', releasing: true }))?.releasing, true);
    assert.equal(decodeHeartbeat(Buffer.from('{"cluster":"c"}')), undefined);
    assert.equal(decodeHeartbeat(Buffer.from('not json')), undefined);
  });
});

describe('VipKeeper on loopback', () => {
  const open: VipKeeper[] = [];
  after(async () => {
    for (const k of open) await k.close(0);
  });

  it('the first lb takes the address, the other hears it, and takes over at once when it lets go', async () => {
    const a = keeper(A, [B]);
    const b = keeper(B, [A]);
    open.push(a, b);
    await Promise.all([a.start(), b.start()]);
    assert.ok(await waitFor(async () => (a.holding ? true : undefined), { timeoutMs: 2_000, intervalMs: 10 }), 'lb1 holds the address');
    assert.equal(await who(), A.id);
    assert.ok(await waitFor(async () => (b.view().heardHolder === A.id ? true : undefined), { timeoutMs: 2_000, intervalMs: 10 }), 'lb2 hears lb1');
    assert.equal(b.holding, false);

    const t0 = Date.now();
    await a.close(0);
    assert.ok(await waitFor(async () => (b.holding ? true : undefined), { timeoutMs: 2_000, intervalMs: 5 }), 'lb2 took over');
    const tookMs = Date.now() - t0;
    assert.equal(await who(), B.id);
    // Released on purpose: no need to wait for three missed heartbeats (150 ms here).
    assert.ok(tookMs < 3 * INTERVAL_MS + 100, `took over ${tookMs} ms after the release`);
  });

  it('a holder that keeps its socket but stops beating (frozen) blocks the takeover until its socket goes', async () => {
    const vip = '127.0.71.201';
    const frozen = answering('frozen')();
    await listen(frozen, vip, PORT, 'frozen holder');
    const c = keeper({ id: 'lb3/lb', address: '127.0.71.3', rank: 0 }, [], vip);
    open.push(c);
    await c.start();
    const blocked = await waitFor(async () => c.view().blocked, { timeoutMs: 2_000, intervalMs: 10 });
    assert.match(blocked ?? '', /still bound/);
    assert.equal(c.holding, false);
    assert.equal(await who(vip), 'frozen');
    await closeServer(frozen, 0);
    assert.ok(await waitFor(async () => (c.holding ? true : undefined), { timeoutMs: 2_000, intervalMs: 10 }), 'took over once the socket was gone');
    assert.equal(await who(vip), 'lb3/lb');
    assert.equal(c.view().blocked, undefined);
  });
});
