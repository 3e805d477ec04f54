import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { waitFor } from '../shared/retry.js';
import { addressIsLocal, VipFollower } from './vip-follow.js';

// The lb unit tests' block (127.0.71.x, as vip.test.ts); ports 18081 and 18082 are this file's.
const VIP = '127.0.71.201';
const PORT = 18081;
const log = pino({ level: 'silent' });

function answers(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: VIP, port: PORT, path: '/', agent: false, timeout: 500 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

describe('VipFollower (lb.vip on hosts: keepalived moves the address, the lb follows)', () => {
  let here = false;
  let listeners = 0;
  const createListener = (): http.Server => {
    listeners++;
    return http.createServer((_q, r) => r.end('ok'));
  };
  const f = new VipFollower({ vip: VIP, port: PORT, createListener, log, isLocal: () => here, nonlocalBind: () => false });
  after(() => f.close(0));

  it('serves the address from the first time it is on this machine, and keeps its listener when it leaves', async () => {
    await f.start();
    assert.equal(f.holding, false);
    assert.equal(await answers(), false, 'never here yet: no listener (a bind needs the address)');
    here = true;
    assert.equal(await waitFor(async () => (f.holding ? true : undefined), { timeoutMs: 5_000, intervalMs: 10 }), true);
    assert.equal(await answers(), true);
    assert.deepEqual(f.view(), { address: `${VIP}:${PORT}`, holding: true });
    here = false;
    assert.equal(await waitFor(async () => (f.holding ? undefined : true), { timeoutMs: 5_000, intervalMs: 10 }), true);
    // The loopback address stays local in fact: the listener is still bound. On a host the kernel
    // delivers nothing to it while the address is on the other one.
    assert.equal(await answers(), true, 'gone: its listener stays bound');
    here = true;
    assert.equal(await waitFor(async () => (f.holding ? true : undefined), { timeoutMs: 5_000, intervalMs: 10 }), true);
    assert.equal(listeners, 1, 'back: the same listener serves it, nothing was bound again (no window of refusals)');
  });

  it('where the host lets it bind an address it does not have, it listens before the address comes (no refusal at the first move)', async () => {
    const early = new VipFollower({ vip: VIP, port: PORT + 1, createListener, log, isLocal: () => false, nonlocalBind: () => true });
    try {
      const before = listeners;
      await early.start();
      assert.equal(listeners, before + 1, 'bound at start');
      assert.equal(early.holding, false, 'not holding: the address is not here');
    } finally {
      await early.close(0);
    }
  });

  it('reads the interfaces: loopback addresses are local, a stranger is not', () => {
    assert.equal(addressIsLocal('127.0.0.1'), true);
    assert.equal(addressIsLocal('192.0.2.77'), false);
  });
});
