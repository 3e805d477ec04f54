/**
 * The Substrate interface's guarantees (src/substrate/types.ts), checked the same way on every
 * implementation: `local` always, `netns` when running as root. Real processes, real sockets.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig, resolveTopology, type ServiceInstance, type Topology } from '../../src/config/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { LocalSubstrate, NetnsSubstrate, cutLinks, partitionLinks, type Substrate } from '../../src/substrate/index.js';
import { tempDir } from '../helpers/cli.js';
import { onRange } from '../../kit/configs.js';
import { processesWhere, procStat } from '../../kit/proc.js';

const PORT = 16601;

function topologyFor(substrate: 'local' | 'netns', stateRoot: string): Topology {
  // Its own range (kit/addresses.ts), not partitions.test.ts's 127.0.66 and 10.213.66 as before.
  const config = parseConfig(
    onRange(
      'substrate-conformance',
      {
        substrate,
        redis: { quorum: 1 },
        nodes: [
          { name: 'n1', services: ['app', 'lb', 'mariadb', 'redis'] },
          { name: 'n2', services: ['app'] },
        ],
      },
      { cluster: `hsconf${substrate}` },
    ),
  );
  return resolveTopology(config, { stateRoot, configDir: stateRoot });
}

/** Pids of every live process in a process group. */
function groupMembers(pgid: number): number[] {
  return processesWhere((p) => p.pgrp === pgid && p.state !== 'Z').map((p) => p.pid);
}

function procState(pid: number): string {
  return procStat(pid)?.state ?? 'gone';
}

/** Reads what a TCP server at address:port says, or the error code; bounded by `timeoutMs`. */
function greet(address: string, port: number, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    let data = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(data || 'TIMEOUT');
    }, timeoutMs);
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('end', () => {
      clearTimeout(timer);
      resolve(data);
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code ?? 'ERROR');
    });
  });
}

/** A tiny service: answers every connection with `hi from <address>`. */
function serverSpec(address: string): { command: string; args: string[] } {
  const js = `require('net').createServer((s) => s.end('hi from ${address}')).listen(${PORT}, '${address}')`;
  return { command: process.execPath, args: ['-e', js] };
}

/** A client run on a node: prints what the server said, or TIMEOUT / the error code (1 s bound). */
function clientSpec(address: string): { command: string; args: string[] } {
  const js = `const s=require('net').connect(${PORT},'${address}');let d='';s.on('data',x=>d+=x);s.on('end',()=>{console.log(d);process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)});setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},1000)`;
  return { command: process.execPath, args: ['-e', js] };
}

function conformance(kind: 'local' | 'netns', make: (topo: Topology) => Substrate): void {
  describe(`substrate conformance: ${kind}`, { timeout: 120_000 }, () => {
    let dir: string;
    let topo: Topology;
    let sub: Substrate;
    const started: number[] = [];
    const svc = (node: string): ServiceInstance => {
      const s = topo.services.find((x) => x.node === node);
      if (!s) throw new Error(`no node ${node}`);
      return s;
    };
    const log = (name: string): string => path.join(dir, `${name}.log`);

    // Substrates unref their children (the supervisor watches `exited` instead): keep the test's
    // event loop alive while it waits on them.
    let keepAlive: NodeJS.Timeout | undefined;
    before(async () => {
      keepAlive = setInterval(() => undefined, 1_000);
      dir = tempDir(`conf-${kind}`);
      topo = topologyFor(kind, dir);
      sub = make(topo);
      await sub.prepare?.();
    });
    after(async () => {
      for (const pid of started) sub.signal(pid, 'SIGKILL');
      await sub.release?.();
      if (sub instanceof NetnsSubstrate) assert.deepEqual(await sub.leftovers(), [], 'namespaces or links left behind');
      fs.rmSync(dir, { recursive: true, force: true });
      clearInterval(keepAlive);
    });

    it('a started service is reachable at its node address, and its pid is the service itself', async () => {
      const n1 = svc('n1');
      const p = sub.spawn(n1, serverSpec(n1.address), log('server'));
      started.push(p.pid);
      const said = await waitFor(
        async () => {
          const r = await greet(n1.address, PORT);
          return r.startsWith('hi') ? r : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      assert.equal(said, `hi from ${n1.address}`);
      const cmd = fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
      assert.equal(cmd[0], process.execPath, 'the recorded pid is the service, not a wrapper');
      const inOwnNetwork = fs.readlinkSync(`/proc/${p.pid}/ns/net`) !== fs.readlinkSync('/proc/self/ns/net');
      assert.equal(inOwnNetwork, kind === 'netns');
      sub.signal(p.pid, 'SIGKILL');
      assert.deepEqual(await p.exited, { code: null, signal: 'SIGKILL' });
    });

    it('a signal reaches the whole process group, and nothing outlives SIGKILL', async () => {
      const p = sub.spawn(svc('n1'), { command: '/bin/sh', args: ['-c', 'sleep 300 & sleep 300 & wait'] }, log('group'));
      started.push(p.pid);
      assert.ok(await waitFor(async () => (groupMembers(p.pid).length >= 3 ? true : undefined), { timeoutMs: 5_000, intervalMs: 50 }), 'the shell and its two children');
      sub.signal(p.pid, 'SIGKILL');
      await p.exited;
      assert.ok(await waitFor(async () => (groupMembers(p.pid).length === 0 ? true : undefined), { timeoutMs: 5_000, intervalMs: 50 }), `left: ${groupMembers(p.pid).join(' ')}`);
      assert.equal(sub.isAlive(p.pid), false);
    });

    it("pause freezes a node's process and resume thaws it", async () => {
      const n1 = svc('n1');
      const p = sub.spawn(n1, serverSpec(n1.address), log('pause'));
      started.push(p.pid);
      assert.ok(await waitFor(async () => ((await greet(n1.address, PORT)).startsWith('hi') ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 }), 'server up');
      sub.signal(p.pid, 'SIGSTOP');
      assert.ok(await waitFor(async () => (procState(p.pid) === 'T' ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 }), 'stopped');
      assert.equal(sub.isAlive(p.pid), true, 'a paused process is alive');
      sub.signal(p.pid, 'SIGCONT');
      assert.equal(await greet(n1.address, PORT, 5_000), `hi from ${n1.address}`);
      sub.signal(p.pid, 'SIGTERM');
      assert.deepEqual(await p.exited, { code: null, signal: 'SIGTERM' });
      assert.deepEqual(groupMembers(p.pid), []);
    });

    it('exit information is reported, and signalling a pid that is gone is a no-op', async () => {
      const p = sub.spawn(svc('n2'), { command: '/bin/sh', args: ['-c', 'echo bye; exit 3'] }, log('exit'));
      assert.deepEqual(await p.exited, { code: 3, signal: null });
      assert.match(fs.readFileSync(log('exit'), 'utf8'), /bye/);
      assert.doesNotThrow(() => sub.signal(p.pid, 'SIGKILL'));
      assert.equal(sub.isAlive(p.pid), false);
    });

    it('a command that does not exist exits with a code, not an exception', async () => {
      const p = sub.spawn(svc('n2'), { command: '/nonexistent/hastack-test', args: [] }, log('missing'));
      const info = await p.exited;
      assert.notEqual(info.code, 0);
    });

    it('nodes reach each other at their addresses; a partition drops packets (a hang, not a refusal) until healed', async (t) => {
      if (!sub.network) {
        t.skip(`${kind} has no network faults (every node shares the host's network)`);
        return;
      }
      const [n1, n2] = [svc('n1'), svc('n2')];
      const server = sub.spawn(n1, serverSpec(n1.address), log('server2'));
      started.push(server.pid);
      assert.ok(await waitFor(async () => ((await greet(n1.address, PORT)).startsWith('hi') ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 }), 'server up');
      const fromN2 = async (name: string): Promise<string> => {
        const c = sub.spawn(n2, clientSpec(n1.address), log(name));
        await c.exited;
        return fs.readFileSync(log(name), 'utf8').trim();
      };
      assert.equal(await fromN2('c1'), `hi from ${n1.address}`);
      await sub.network.setCutLinks(partitionLinks([['n1'], ['n2']]));
      assert.equal(await fromN2('c2'), 'TIMEOUT', 'a partition drops, it does not refuse');
      assert.equal(await greet(n1.address, PORT), `hi from ${n1.address}`, 'the host still sees both sides');
      await sub.network.setCutLinks([]);
      assert.equal(await fromN2('c3'), `hi from ${n1.address}`);
      // One direction: n2's packets no longer reach n1 (so no TCP handshake), the host's still do.
      await sub.network.setCutLinks(cutLinks('n2', 'n1'));
      assert.equal(await fromN2('c4'), 'TIMEOUT');
      assert.equal(await greet(n1.address, PORT), `hi from ${n1.address}`);
      await sub.network.setCutLinks([]);
      assert.equal(await fromN2('c5'), `hi from ${n1.address}`);
      sub.signal(server.pid, 'SIGKILL');
      await server.exited;
    });
  });
}

conformance('local', () => new LocalSubstrate());
if (process.getuid?.() === 0) conformance('netns', (topo) => new NetnsSubstrate(topo));
