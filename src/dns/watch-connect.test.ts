import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { probeAgent } from '../shared/probe-agent.js';
import { waitFor } from '../shared/retry.js';
import { LB_PROBE_TIMEOUT_MS, LbWatcher } from './watch.js';

/*
 * A load balancer whose machine drops packets (cut off, powered off): its probe must fail within
 * the probe's bound, not undici's 10 s connect timeout (shared/probe-agent.ts). The black hole is
 * a listening socket that never accepts, its accept queue filled: the kernel then drops further
 * SYNs, as a partition does, without touching the firewall. Python's socket module, since Node
 * accepts every connection of a listener.
 */
const BLACK_HOLE = `
import socket, sys, time
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(0)
port = s.getsockname()[1]
held = []
for _ in range(3):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(('127.0.0.1', port))
    except BlockingIOError:
        pass
    held.append(c)
time.sleep(0.3)
print(port, flush=True)
sys.stdin.read()
`;

describe('probes of a black-holed address are bounded by the probe, not the connect default', () => {
  let hole: ChildProcess | undefined;
  let port = 0;
  before(async () => {
    hole = spawn('/usr/bin/python3', ['-c', BLACK_HOLE], { stdio: ['pipe', 'pipe', 'inherit'] });
    port = await new Promise<number>((resolve, reject) => {
      hole?.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      hole?.once('error', reject);
    });
  });
  after(() => {
    hole?.stdin?.end();
    if (hole?.pid !== undefined && hole.exitCode === null) process.kill(hole.pid);
  });

  it('probeAgent: the connect gives up at its own bound', async () => {
    const agent = probeAgent(300);
    try {
      await assert.rejects(
        agent.request({ origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' }),
        (e: unknown) => (e as { code?: string }).code === 'UND_ERR_CONNECT_TIMEOUT' && /timeout: 300ms/.test(String((e as Error).message)),
      );
    } finally {
      await agent.close();
    }
  });

  it('the DNS watcher pulls a black-holed load balancer on its probe bound', async () => {
    const watcher = new LbWatcher([{ id: 'lb1', address: '127.0.0.1', port }]);
    watcher.start();
    try {
      const view = await waitFor(async () => watcher.view().find((v) => !v.healthy), { timeoutMs: 30_000, intervalMs: 100 });
      assert.ok(view, 'the black-holed LB was never pulled');
      assert.match(view.detail, new RegExp(`timeout: ${LB_PROBE_TIMEOUT_MS}ms`));
    } finally {
      await watcher.stop();
    }
  });
});
